#include "sim/cluster.h"

#include "sim/sim_machine.h"

#include <algorithm>
#include <deque>
#include <optional>

namespace rq::sim {

// ---- coverage ----------------------------------------------------------------------------

void Coverage::add(const std::string& name, uint64_t v) {
  for (auto& [n, c] : counters) {
    if (n == name) {
      c += v;
      return;
    }
  }
  counters.emplace_back(name, v);
}

uint64_t Coverage::get(const std::string& name) const {
  for (const auto& [n, c] : counters) {
    if (n == name) return c;
  }
  return 0;
}

std::string Coverage::format() const {
  std::string out;
  for (const auto& [n, c] : counters) {
    if (!out.empty()) out += ' ';
    out += n + "=" + std::to_string(c);
  }
  return out;
}

// ---- hosts -------------------------------------------------------------------------------

class Simulation::HostTransport final : public Transport {
 public:
  HostTransport(Simulation& sim, Host& h) : sim_(sim), h_(h) {}
  void send(NodeId to, std::string bytes) override;

 private:
  Simulation& sim_;
  Host& h_;
};

namespace {

wl::Kind sql_kind(WorkloadKind k) {
  switch (k) {
    case WorkloadKind::kRegister:
      return wl::Kind::kRegister;
    case WorkloadKind::kMultiRegister:
      return wl::Kind::kMultiRegister;
    case WorkloadKind::kBank:
      return wl::Kind::kBank;
    case WorkloadKind::kAppend:
      return wl::Kind::kAppend;
    case WorkloadKind::kSet:
      return wl::Kind::kSet;
    case WorkloadKind::kRaft:
      break;
  }
  RQ_ASSERT(false);
}

wl::Level level_of(svc::ReadLevel l) {
  switch (l) {
    case svc::ReadLevel::kNone:
      return wl::Level::kNone;
    case svc::ReadLevel::kWeak:
      return wl::Level::kWeak;
    case svc::ReadLevel::kLinearizable:
      return wl::Level::kLinearizable;
    case svc::ReadLevel::kStrong:
      return wl::Level::kStrong;
    case svc::ReadLevel::kAuto:
      break;
  }
  RQ_ASSERT(false);
}

}  // namespace

// The simulator's side of the workload's client interface (sim/workload/client.h): requests
// cross one simulated hop to the node's Service and back; (session, seq) reach the state machine.
class Simulation::SqlClient final : public wl::Client {
 public:
  explicit SqlClient(Simulation& sim) : sim_(sim) {}
  Duration now() const override { return sim_.q_.now(); }
  void after(Duration d, std::function<void()> fn) override { sim_.q_.after(d, std::move(fn)); }
  bool exactly_once() const override { return true; }
  void send(int node, wl::Request req, Reply reply) override {
    svc::Request r;
    r.kind = req.endpoint == wl::Endpoint::kExecute ? sql::CommandKind::kExecute
             : req.endpoint == wl::Endpoint::kQuery ? sql::CommandKind::kQuery
                                                     : sql::CommandKind::kRequest;
    r.statements = std::move(req.statements);
    r.transaction = req.transaction;
    r.level = read_level_of(req.level);
    r.redirect = req.redirect;
    r.timeout = req.timeout;
    r.session = req.session;
    r.seq = req.seq;
    sim_.submit_sql(NodeId(static_cast<uint64_t>(node)), std::move(r), [reply = std::move(reply)](svc::Response s) {
      wl::Response out;
      out.status = status_of(s.status);
      out.result = std::move(s.result);
      out.leader = static_cast<int>(s.leader.v);
      out.error = std::move(s.error);
      out.raft_index = s.raft_index.v;
      out.raft_term = s.raft_term.v;
      reply(std::move(out));
    });
  }

 private:
  static svc::ReadLevel read_level_of(wl::Level l) {
    switch (l) {
      case wl::Level::kNone:
        return svc::ReadLevel::kNone;
      case wl::Level::kWeak:
        return svc::ReadLevel::kWeak;
      case wl::Level::kLinearizable:
        return svc::ReadLevel::kLinearizable;
      case wl::Level::kStrong:
        return svc::ReadLevel::kStrong;
    }
    RQ_ASSERT(false);
  }
  static wl::Status status_of(svc::Status s) {
    switch (s) {
      case svc::Status::kOk:
        return wl::Status::kOk;
      case svc::Status::kNotLeader:
        return wl::Status::kNotLeader;
      case svc::Status::kNoLeader:
        return wl::Status::kNoLeader;
      case svc::Status::kFailed:
        return wl::Status::kFailed;
      case svc::Status::kUnknown:
        return wl::Status::kUnknown;
      case svc::Status::kError:
        return wl::Status::kError;
    }
    RQ_ASSERT(false);
  }

  Simulation& sim_;
};

struct Simulation::Host {
  NodeId id;
  Prng prng{0};
  std::unique_ptr<SimDisk> disk;
  std::unique_ptr<SimClock> clock;
  std::unique_ptr<HostTransport> transport;
  std::unique_ptr<SimMachine> sm;           // workload raft
  std::unique_ptr<sql::SqliteMachine> sql;  // the SQL workloads, with the client service
  std::unique_ptr<Node> node;
  std::unique_ptr<svc::Service> service;
  bool up = false;
  uint64_t incarnation = 0;
  bool in_dispatch = false;
  Duration cursor{};
  Duration busy_until{};
  // Work that arrived while the node was busy, in arrival order (its socket buffers).
  std::deque<std::pair<uint64_t, std::function<void()>>> inbox;
  bool wakeup_scheduled = false;
  bool bootstrap = false;       // a founding member's first start founds the cluster
  uint64_t identity = 0;        // the node's incarnation (new each time its disk is wiped)
  uint64_t pending_visible = 0;  // observations waiting for the node's cursor
  bool decommissioned = false;  // removed and switched off

  uint64_t digest() const { return sm ? sm->digest() : sql->digest(); }
};

void Simulation::HostTransport::send(NodeId to, std::string bytes) {
  if (to.v == 0 || to.v > sim_.hosts_.size()) return;
  sim_.trace_.add(1, h_.id.v, to.v, hash_bytes(bytes));
  const Duration depart = sim_.host_now(h_);
  const bool cluster = sim_.sending_cluster_;
  sim_.sending_cluster_ = false;
  const raft::HardState hs = sim_.sending_hs_;
  const bool ack = sim_.sending_ack_;
  const LogIndex ack_index = sim_.sending_ack_index_;
  const Term ack_term = sim_.sending_ack_entry_term_;
  auto record = [&sim = sim_, id = h_.id, hs, ack, ack_index, ack_term, cluster] {
    if (cluster) return;
    sim.checker_->on_departed(id, hs);
    if (ack) sim.checker_->on_ack_departed(id, hs.term, ack_index, ack_term);
  };
  if (depart <= sim_.q_.now()) {
    record();
    sim_.net_->send(h_.id, to, std::move(bytes), depart);
    return;
  }
  // The node is still busy (syncing) until `depart`: the packet leaves then, unless the node
  // crashed in the meantime.
  const uint64_t inc = h_.incarnation;
  Host& h = h_;
  Simulation& sim = sim_;
  sim_.q_.at(depart, [&sim, &h, inc, to, record, depart, b = std::move(bytes)]() mutable {
    if (!h.up || h.incarnation != inc) return;
    record();
    sim.net_->send(h.id, to, std::move(b), depart);
  });
}

// ---- setup -------------------------------------------------------------------------------

Simulation::Simulation(const Options& opts, std::FILE* log, bool verbose)
    : opts_(opts), log_(log), verbose_(verbose), prng_(opts.seed) {
  Prng root(opts.seed);
  prng_ = root.split();
  const size_t hosts = opts_.nodes + opts_.spares;
  net_ = std::make_unique<Network>(q_, root.split(), opts_.net, hosts,
                                   [this](NodeId f, NodeId t, std::string b) { deliver(f, t, std::move(b)); });
  checker_ = std::make_unique<Checker>([this](NodeId id) { return raft_of(id); }, [this] { return q_.now(); });
  checker_->set_white_box(opts_.white_box);
  Prng workload_prng = root.split();
  std::vector<raft::Member> members;
  for (size_t k = 0; k < hosts; ++k) {
    auto h = std::make_unique<Host>();
    Host& hr = *h;
    h->id = NodeId(k + 1);
    h->bootstrap = k < opts_.nodes;
    h->identity = prng_.next_u64() | 1;
    if (h->bootstrap) {
      // The last `learners` founders are read replicas; at least one voter always remains.
      const bool voter = k + 1 + opts_.learners <= opts_.nodes || k == 0 || opts_.bootstrap_expect;
      members.push_back(raft::Member{h->id, "n" + std::to_string(k + 1), voter, false, h->identity});
    }
    h->prng = root.split();
    h->disk = std::make_unique<SimDisk>(h->prng.split(), opts_.disk);
    h->disk->set_now([this] { return q_.now(); });
    h->disk->set_busy([this, &hr](Duration d) {
      if (!hr.in_dispatch) return q_.now();
      hr.cursor += d;
      return hr.cursor;
    });
    int64_t drift =
        opts_.drift_ppm_max == 0
            ? 0
            : static_cast<int64_t>(h->prng.below(static_cast<uint64_t>(2 * opts_.drift_ppm_max + 1))) -
                  opts_.drift_ppm_max;
    if (opts_.drift_extremes) drift = drift >= 0 ? opts_.drift_ppm_max : -opts_.drift_ppm_max;
    // The host pinned at the minimum election timeout also runs fast: it is the first to think
    // the leader's lease is over.
    if (opts_.drift_extremes && (opts_.pinned_timeouts_mask >> k & 1) != 0) drift = opts_.drift_ppm_max;
    h->clock = std::make_unique<SimClock>(
        [this, &hr] { return host_now(hr); },
        [this, &hr](Duration at, std::function<void()> fn) {
          const uint64_t inc = hr.incarnation;
          q_.at(at, [this, &hr, inc, fn = std::move(fn)] { run_on(hr, inc, fn); });
        },
        drift);
    h->transport = std::make_unique<HostTransport>(*this, hr);
    hosts_.push_back(std::move(h));
  }
  initial_membership_ = raft::Membership(std::move(members));
  committed_config_ = initial_membership_;
  committed_config_index_ = LogIndex{1};
  if (opts_.workload != WorkloadKind::kRaft) {
    sql_def_ = wl::Workload::make(sql_kind(opts_.workload));
    sql_client_ = std::make_unique<SqlClient>(*this);
    wl::RunnerOptions wo;
    wo.level = level_of(opts_.read_level);
    wo.clients = opts_.clients;
    wo.nodes = hosts;
    wo.think = opts_.client_think;
    wo.attempt_timeout = opts_.client_timeout;
    wo.final_timeout = opts_.liveness_bound;
    sql_runner_ = std::make_unique<wl::Runner>(
        *sql_client_, *sql_def_, workload_prng, wo,
        [this](uint64_t index, uint64_t term) { checker_->on_acknowledged_at(LogIndex(index), Term(term)); });
  }
  workload_ = std::make_unique<Workload>(
      q_, workload_prng, opts_.clients, hosts, opts_.client_think, opts_.client_timeout, *checker_,
      [this](NodeId target, std::string data, Workload::AtNode at_node) {
        const Duration hop = std::chrono::microseconds(100);
        q_.after(hop, [this, target, data = std::move(data), at_node = std::move(at_node)]() mutable {
          Host& h = host(target);
          if (!h.up) return;
          run_on(h, h.incarnation, [&h, data, at_node] {
            (void)h.node->propose(data, [&at_node](const raft::ProposeResult& r) { at_node(r); });
          });
        });
      });
}

Simulation::~Simulation() = default;

void Simulation::submit_sql(NodeId target, svc::Request req, std::function<void(svc::Response)> reply) {
  // One network hop each way (the client's link is not part of the simulated cluster network).
  const Duration hop = std::chrono::microseconds(100);
  q_.after(hop, [this, hop, target, req = std::move(req), reply = std::move(reply)]() mutable {
    Host& h = host(target);
    if (!h.up) return;
    run_on(h, h.incarnation, [this, &h, hop, req = std::move(req), reply = std::move(reply)]() mutable {
      if (!h.service) return;
      h.service->submit(std::move(req), [this, &h, hop, reply](svc::Response r) {
        // The answer leaves when the node gets there (after the syncs it waited for), and never
        // if it crashes first.
        const uint64_t inc = h.incarnation;
        q_.at(host_now(h), [this, &h, inc, hop, reply, r = std::move(r)]() mutable {
          if (!h.up || h.incarnation != inc) return;
          q_.after(hop, [reply, r = std::move(r)]() mutable { reply(std::move(r)); });
        });
      });
    });
  });
}

NodeConfig Simulation::node_config(NodeId id) const {
  NodeConfig c;
  c.raft.id = id;
  c.raft.election_ticks = opts_.election_ticks;
  c.raft.heartbeat_ticks = opts_.heartbeat_ticks;
  if (id.v >= 1 && id.v <= 32 && (opts_.pinned_timeouts_mask >> (id.v - 1) & 1) != 0) c.raft.election_jitter_ticks = 0;
  c.raft.max_inflight = opts_.max_inflight;
  c.raft.max_msg_bytes = opts_.max_msg_bytes;
  c.raft.snapshot_chunk_bytes = opts_.snapshot_chunk_bytes;
  c.raft.snapshot_chunks_in_flight = opts_.snapshot_chunks_in_flight;
  c.store.max_segment_bytes = opts_.segment_bytes;
  c.tick_interval = opts_.tick;
  c.snapshot_threshold = opts_.snapshot_threshold;
  c.trailing_logs = opts_.trailing_logs;
  return c;
}

const raft::Raft* Simulation::raft_of(NodeId id) const {
  if (id.v == 0 || id.v > hosts_.size()) return nullptr;
  const Host& h = *hosts_[id.v - 1];
  if (!h.up || !h.node || !h.node->running()) return nullptr;
  return &h.node->raft();
}

Duration Simulation::host_now(const Host& h) const { return h.in_dispatch ? h.cursor : q_.now(); }

void Simulation::note(const std::string& line) {
  if (verbose_ && log_ != nullptr) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(q_.now()).count();
    std::fprintf(log_, "t=%lld.%06llds %s\n", static_cast<long long>(us / 1'000'000),
                 static_cast<long long>(us % 1'000'000), line.c_str());
  }
}

// ---- running code on a node --------------------------------------------------------------

void Simulation::run_on(Host& h, uint64_t incarnation, std::function<void()> fn) {
  if (!h.up || h.incarnation != incarnation) return;
  if (q_.now() < h.busy_until || !h.inbox.empty()) {
    h.inbox.emplace_back(incarnation, std::move(fn));
    ensure_wakeup(h);
    return;
  }
  execute(h, fn);
}

void Simulation::execute(Host& h, const std::function<void()>& fn) {
  trace_.add(2, h.id.v, static_cast<uint64_t>(q_.now().count()));
  h.in_dispatch = true;
  h.cursor = q_.now();
  fn();
  h.in_dispatch = false;
  h.busy_until = h.cursor;
}

void Simulation::ensure_wakeup(Host& h) {
  if (h.wakeup_scheduled) return;
  h.wakeup_scheduled = true;
  q_.at(std::max(h.busy_until, q_.now()), [this, &h] {
    h.wakeup_scheduled = false;
    drain(h);
  });
}

void Simulation::drain(Host& h) {
  if (!h.inbox.empty() && q_.now() >= h.busy_until && h.up) {
    // Everything that piled up while the node was busy is handled as one batch (group commit),
    // as the real server's loop does with what it reads from its sockets in one go.
    std::deque<std::pair<uint64_t, std::function<void()>>> batch;
    batch.swap(h.inbox);
    const uint64_t inc = h.incarnation;
    execute(h, [&h, &batch, inc] {
      if (h.node) h.node->begin_batch();
      for (auto& [item_inc, fn] : batch) {
        if (!h.up || h.incarnation != inc || !h.node) break;
        if (item_inc == inc) fn();
      }
      if (h.up && h.incarnation == inc && h.node) h.node->end_batch();
    });
  }
  if (!h.inbox.empty()) ensure_wakeup(h);
}

void Simulation::deliver(NodeId from, NodeId to, std::string bytes) {
  Host& h = host(to);
  if (!h.up) return;
  run_on(h, h.incarnation, [&h, bytes = std::move(bytes)] {
    if (h.node) h.node->receive(bytes);
  });
}

void Simulation::start_node(Host& h) {
  h.up = true;
  ++h.incarnation;
  const uint64_t inc = h.incarnation;
  NodeConfig cfg = node_config(h.id);
  cfg.incarnation = h.identity;
  if (opts_.workload != WorkloadKind::kRaft) {
    sql::SqliteOptions so;
    so.snapshot_piece_bytes = opts_.snapshot_piece_bytes;
    auto m = sql::SqliteMachine::open(so);
    RQ_ASSERT(m.ok());
    h.sql = std::move(*m);
    h.node = std::make_unique<Node>(std::move(cfg), *h.clock, *h.transport, *h.disk, h.prng.split(), *h.sql, this);
    svc::ServiceOptions svo;
    svo.tick_interval = opts_.tick;
    svo.unsafe_leader_reads = opts_.broken_reads;
    h.service = std::make_unique<svc::Service>(*h.node, *h.sql, *h.clock, h.prng.split(), svo);
  } else {
  // The state machine finishes snapshots piece by piece, later, on the node (gone if it crashes).
  h.sm = std::make_unique<SimMachine>(
      [this, &h, inc](std::function<void()> fn) {
        const auto delay = static_cast<uint64_t>(opts_.snapshot_piece_delay.count());
        const Duration at = host_now(h) + Duration(static_cast<int64_t>(delay == 0 ? 0 : h.prng.below(delay + 1)));
        q_.at(at, [this, &h, inc, fn = std::move(fn)] { run_on(h, inc, fn); });
      },
      opts_.snapshot_piece_bytes);
  h.node = std::make_unique<Node>(std::move(cfg), *h.clock, *h.transport, *h.disk, h.prng.split(), *h.sm, this);
  }
  h.busy_until = std::max(h.busy_until, q_.now());
  // A founder bootstraps whenever it starts with a fresh disk (the same flags every time, like
  // rqlited's), until its disk is wiped for a rejoin; the node ignores it once it has state.
  const bool expect = h.bootstrap && opts_.bootstrap_expect && h.service;
  std::optional<raft::Membership> bootstrap;
  if (h.bootstrap && !expect) bootstrap = initial_membership_;
  run_on(h, h.incarnation, [&h, bootstrap] { (void)h.node->start(bootstrap); });
  if (expect) {
    // rqlite's -bootstrap-expect: blank founders tell each other they are there; each founds the
    // cluster once it has heard from all of them (the same set everywhere).
    const raft::Member self = *initial_membership_.find(h.id);
    const size_t n = initial_membership_.voters().size();
    run_on(h, h.incarnation, [&h, self, n] {
      if (h.node->running() && h.node->blank()) h.service->expect_bootstrap(n, self);
    });
    notify_loop(h, h.incarnation);
  }
}

void Simulation::notify_loop(Host& h, uint64_t inc) {
  q_.after(opts_.tick * 3, [this, &h, inc] {
    if (!h.up || h.incarnation != inc) return;
    run_on(h, inc, [this, &h, inc] {
      if (!h.service || !h.node->running() || !h.node->blank()) return;  // part of a cluster now
      const raft::Member self = *initial_membership_.find(h.id);
      for (const auto& m : initial_membership_.members()) {
        if (m.id != h.id) h.service->notify(m.id, self);
      }
      notify_loop(h, inc);
    });
  });
}

void Simulation::crash(Host& h, const char* why) {
  if (!h.up) return;
  RQ_ASSERT(!h.in_dispatch);
  note("node=" + std::to_string(h.id.v) + " crash (" + why + ")");
  trace_.add(3, h.id.v);
  h.up = false;
  h.inbox.clear();
  h.pending_visible = 0;
  if (h.service) forwarded_ += h.service->stats().forwarded;
  h.service.reset();
  h.node.reset();
  h.sm.reset();
  h.sql.reset();
  h.clock->clear_timers();
  h.disk->crash(q_.now());
  ++h.incarnation;
  ++crashes_;
  checker_->on_crash(h.id);
  workload_->on_crash(h.id);
}

void Simulation::restart(Host& h) {
  if (h.up) return;
  note("node=" + std::to_string(h.id.v) + " restart");
  trace_.add(4, h.id.v);
  ++restarts_;
  start_node(h);
}

// ---- observer ----------------------------------------------------------------------------

void Simulation::on_persisted(NodeId n, const std::vector<raft::Entry>& ents, Term prev_term) {
  checker_->on_appended(n, ents);
  // Durable only once the sync completes, at the node's cursor (never, if it crashes first).
  Host& h = host(n);
  if (host_now(h) <= q_.now() && h.pending_visible == 0) {
    checker_->on_durable(n, ents, prev_term);
  } else {
    at_cursor(h, [this, n, ents, prev_term] { checker_->on_durable(n, ents, prev_term); });
  }
  const raft::Raft& r = host(n).node->raft();
  for (const auto& e : ents) {
    if (auto c = Checker::config_append_of(r, e)) {
      at_cursor(host(n), [this, n, c = std::move(*c)] { checker_->on_config_appended(n, c); });
    }
  }
}

void Simulation::on_soft_state(NodeId n, const raft::SoftState& ss, Term term) {
  trace_.add(5, n.v, static_cast<uint64_t>(ss.role), term.v);
  if (ss.role == raft::Role::kCandidate) ++elections_;
  if (ss.role == raft::Role::kLeader) {
    ++leaders_;
    note("node=" + std::to_string(n.v) + " leader term=" + std::to_string(term.v));
    checker_->on_leader(n, term);
    if (figure8_) figure8_on_leader(n);
    if (ongaro_) ongaro_on_leader(n, term);
    if (stale_) stale_on_leader(n, term);
    if (!liveness_ && prng_.chance_ppm(opts_.infant_leader_kill_ppm)) {
      // Killed within a few message latencies of winning: its no-op and whatever it re-sends
      // from older terms are on some followers only.
      Host& h = host(n);
      const uint64_t inc = h.incarnation;
      const auto window = static_cast<uint64_t>((opts_.net.latency_min * 3).count());
      q_.at(host_now(h) + Duration(static_cast<int64_t>(prng_.below(window + 1))), [this, &h, inc] {
        if (h.incarnation != inc || !h.up || liveness_) return;
        crash(h, "infant leader");
        q_.after(Duration(static_cast<int64_t>(prng_.below(static_cast<uint64_t>(opts_.down_max.count()) + 1))),
                 [this, &h] {
                   if (!liveness_) restart(h);
                 });
      });
    }
  }
}

void Simulation::on_applied(NodeId n, const raft::Entry& e) {
  // The node applies an entry only after the syncs before it returned: the world sees it at the
  // node's cursor, and not at all if the node crashes before then (it never got that far).
  Host& h = host(n);
  const uint64_t digest = h.digest();
  const Term term = h.node->raft().term();
  at_cursor(h, [this, n, e, digest, term] { applied_visible(n, e, digest, term); });
}

void Simulation::at_cursor(Host& h, std::function<void()> fn) {
  if (host_now(h) <= q_.now() && h.pending_visible == 0) {
    fn();
    return;
  }
  // Keep order with earlier deferred observations of the same node.
  ++h.pending_visible;
  const uint64_t inc = h.incarnation;
  q_.at(host_now(h), [this, &h, inc, fn = std::move(fn)] {
    if (h.incarnation != inc) return;
    --h.pending_visible;
    if (h.up) fn();
  });
}

void Simulation::applied_visible(NodeId n, const raft::Entry& e, uint64_t digest, Term term) {
  checker_->on_applied(n, e, term);
  if (figure8_) figure8_on_applied(n, e, term);
  if (e.term < term && !liveness_ && prng_.chance_ppm(opts_.old_entry_leader_kill_ppm)) {
    // Figure 8's moment: a leader that has just applied an entry of an earlier term dies, with
    // whatever it had not yet sent; if it committed that entry by counting replicas alone, a
    // node holding another entry there, of a term in between, can still win and overwrite it.
    Host& h = host(n);
    if (const raft::Raft* r = raft_of(n); r != nullptr && r->role() == raft::Role::kLeader) {
      const uint64_t inc = h.incarnation;
      q_.at(host_now(h), [this, &h, inc] {
        if (h.incarnation != inc || !h.up || liveness_) return;
        crash(h, "leader applying an old entry");
        q_.after(Duration(static_cast<int64_t>(prng_.below(static_cast<uint64_t>(opts_.down_max.count()) + 1))),
                 [this, &h] {
                   if (!liveness_) restart(h);
                 });
      });
    }
  }
  checker_->on_digest(n, e.index, digest);
  workload_->on_applied(n, e);
  if (e.type == raft::EntryType::kConfig && e.index > committed_config_index_) {
    if (auto m = raft::Membership::decode(e.data)) {
      committed_config_ = std::move(*m);
      committed_config_index_ = e.index;
    }
  }
  if (op_ && op_->pending_node == n && op_->pending_index == e.index) {
    // The change committed (its entry applied where it was proposed), or lost its place.
    if (e.term == op_->pending_term) {
      q_.after(std::chrono::microseconds(100), [this, attempt = op_->attempt] {
        if (op_ && op_->attempt == attempt) member_phase_done();
      });
    } else {
      member_retry(opts_.tick);
    }
    op_->pending_node = NodeId{};
  }
}

void Simulation::on_snapshot_taken(NodeId n, const raft::SnapshotMeta& meta) {
  ++snapshots_taken_;
  trace_.add(7, n.v, meta.index.v, meta.crc);
  note("node=" + std::to_string(n.v) + " snapshot taken index=" + std::to_string(meta.index.v) +
       " bytes=" + std::to_string(meta.size));
}

void Simulation::on_snapshot_installed(NodeId n, const raft::SnapshotMeta& meta) {
  ++snapshots_installed_;
  trace_.add(8, n.v, meta.index.v, meta.crc);
  note("node=" + std::to_string(n.v) + " snapshot installed index=" + std::to_string(meta.index.v));
  const uint64_t digest = host(n).digest();
  at_cursor(host(n), [this, n, meta, digest] {
    checker_->on_restored(n, meta.index);
    checker_->on_digest(n, meta.index, digest);
  });
}

void Simulation::on_send(NodeId n, const raft::Message& m, const raft::HardState& hs) {
  // Remembered for the transport, which records the exposure when the packet really leaves.
  sending_cluster_ = false;
  sending_hs_ = hs;
  sending_ack_ = false;
  if (m.type == raft::MessageType::kAppResp && !m.reject && m.index.v > 0 && m.term == hs.term) {
    if (const raft::Raft* r = raft_of(n)) {
      if (auto t = r->log().term(m.index)) {
        sending_ack_ = true;
        sending_ack_index_ = m.index;
        sending_ack_entry_term_ = *t;
      }
    }
  }
}

void Simulation::on_recovered(NodeId n, const storage::RecoveredLog& rec,
                              const std::optional<raft::SnapshotMeta>& snap) {
  if (rec.torn_bytes > 0) ++recovered_torn_;
  if (rec.term_raised_from) ++terms_raised_;
  if (verbose_) {
    const std::string last = rec.entries.empty() ? "none"
                                                  : std::to_string(rec.entries.back().index.v) + "/t" +
                                                        std::to_string(rec.entries.back().term.v);
    note("node=" + std::to_string(n.v) + " recovered term=" + std::to_string(rec.hard_state.term.v) + " vote=" +
         std::to_string(rec.hard_state.vote.v) + " commit=" + std::to_string(rec.hard_state.commit.v) +
         " last=" + last + " segments=" + std::to_string(rec.segments) + " torn_bytes=" + std::to_string(rec.torn_bytes) +
         (rec.term_raised_from ? " term_raised_from=" + std::to_string(rec.term_raised_from->v) : ""));
  }
  const LogIndex floor = snap ? snap->index : LogIndex{0};
  checker_->on_recovered(n, rec.hard_state, rec.entries, floor, snap ? snap->term : Term{0});
  if (snap) checker_->on_digest(n, snap->index, host(n).digest());
}

void Simulation::on_fail_stop(NodeId n, const Error& why) {
  ++fail_stops_;
  note("node=" + std::to_string(n.v) + " fail-stop: " + why.message);
  if (why.code == ErrorCode::kCorrupt) {
    // The fault model never corrupts synced data, so the log must always be trusted.
    checker_->fail("recovery-failed", n, why.message);
    return;
  }
  // The process exits; its supervisor restarts it a little later.
  Host& h = host(n);
  const uint64_t inc = h.incarnation;
  // The process dies when the failing call returns, after whatever it had already waited for.
  q_.at(host_now(h), [this, &h, inc] {
    if (h.incarnation != inc) return;
    crash(h, "fail-stop");
    const Duration down = opts_.tick * static_cast<int64_t>(1 + prng_.below(20));
    q_.after(down, [this, &h] { restart(h); });
  });
}

// ---- nemesis -----------------------------------------------------------------------------

void Simulation::schedule_nemesis() {
  if (opts_.schedule) {
    for (const FaultStep& f : *opts_.schedule) {
      q_.at(f.at, [this, f] {
        if (!liveness_) apply_fault(f);
      });
    }
    return;
  }
  const auto mean = static_cast<uint64_t>(opts_.nemesis_interval.count());
  q_.after(Duration(static_cast<int64_t>(1 + prng_.below(2 * mean))), [this] {
    if (liveness_) return;
    nemesis_step();
    schedule_nemesis();
  });
}

void Simulation::partition_random() {
  const size_t n = host_count();
  net_->heal_all();
  ++partitions_;
  switch (prng_.below(5)) {
    case 0: {  // isolate one node, both directions
      const NodeId x(prng_.range(1, n));
      for (size_t k = 1; k <= n; ++k) {
        if (k == x.v) continue;
        net_->set_link(x, NodeId(k), false);
        net_->set_link(NodeId(k), x, false);
      }
      note("partition isolate " + std::to_string(x.v));
      break;
    }
    case 1: {  // random halves
      std::vector<bool> side(n + 1);
      for (size_t k = 1; k <= n; ++k) side[k] = prng_.below(2) == 1;
      for (size_t a = 1; a <= n; ++a) {
        for (size_t b = 1; b <= n; ++b) {
          if (side[a] != side[b]) net_->set_link(NodeId(a), NodeId(b), false);
        }
      }
      note("partition halves");
      break;
    }
    case 2: {  // asymmetric: one node can send but not receive (or the reverse)
      const NodeId x(prng_.range(1, n));
      const bool inbound = prng_.below(2) == 1;
      for (size_t k = 1; k <= n; ++k) {
        if (k == x.v) continue;
        if (inbound) {
          net_->set_link(NodeId(k), x, false);
        } else {
          net_->set_link(x, NodeId(k), false);
        }
      }
      note("partition asymmetric " + std::to_string(x.v) + (inbound ? " deaf" : " mute"));
      break;
    }
    case 3: {  // partial: random pairs cut, so A-B and B-C may be up while A-C is down
      for (size_t a = 1; a <= n; ++a) {
        for (size_t b = a + 1; b <= n; ++b) {
          if (prng_.below(3) == 0) {
            net_->set_link(NodeId(a), NodeId(b), false);
            net_->set_link(NodeId(b), NodeId(a), false);
          }
        }
      }
      note("partition partial");
      break;
    }
    default: {  // bridge: two groups connected only through one node
      const NodeId bridge(prng_.range(1, n));
      std::vector<bool> side(n + 1);
      for (size_t k = 1; k <= n; ++k) side[k] = prng_.below(2) == 1;
      for (size_t a = 1; a <= n; ++a) {
        for (size_t b = 1; b <= n; ++b) {
          if (a == bridge.v || b == bridge.v) continue;
          if (side[a] != side[b]) net_->set_link(NodeId(a), NodeId(b), false);
        }
      }
      note("partition bridge " + std::to_string(bridge.v));
      break;
    }
  }
}

void Simulation::apply_fault(const FaultStep& f) {
  Host& h = *hosts_[(f.node == 0 ? 0 : f.node - 1) % hosts_.size()];
  trace_.add(7, static_cast<uint64_t>(f.kind), h.id.v);
  auto isolate = [this](NodeId x) {
    for (size_t k = 1; k <= host_count(); ++k) {
      if (k == x.v) continue;
      net_->set_link(x, NodeId(k), false);
      net_->set_link(NodeId(k), x, false);
    }
    ++partitions_;
    note("partition isolate " + std::to_string(x.v));
  };
  switch (f.kind) {
    case FaultStep::Kind::kIsolate:
      isolate(h.id);
      break;
    case FaultStep::Kind::kIsolateLeader:
      if (Host* l = current_leader()) isolate(l->id);
      break;
    case FaultStep::Kind::kHeal:
      net_->heal_all();
      ++heals_;
      note("heal");
      break;
    case FaultStep::Kind::kCrash:
      crash(h, "crash");
      break;
    case FaultStep::Kind::kRestart:
      restart(h);
      break;
    case FaultStep::Kind::kKillLeader:
      if (Host* l = current_leader()) crash(*l, "kill leader");
      break;
    case FaultStep::Kind::kPause:
      if (!h.up) break;
      h.busy_until = std::max(h.busy_until, q_.now() + f.length);
      ++pauses_;
      note("node=" + std::to_string(h.id.v) + " pause");
      break;
    case FaultStep::Kind::kClockJump:
      h.clock->jump(f.length);
      ++clock_jumps_;
      note("node=" + std::to_string(h.id.v) + " clock jump");
      break;
  }
}

Simulation::Host* Simulation::current_leader() {
  Host* best = nullptr;
  for (auto& h : hosts_) {
    const raft::Raft* r = raft_of(h->id);
    if (r == nullptr || r->role() != raft::Role::kLeader) continue;
    if (best == nullptr || r->term() > best->node->raft().term()) best = h.get();
  }
  return best;
}

void Simulation::nemesis_step() {
  const uint32_t weights[] = {opts_.w_partition,   opts_.w_heal,           opts_.w_crash,
                              opts_.w_pause,       opts_.w_clock_jump,     opts_.w_clog,
                              opts_.w_kill_leader, opts_.w_isolate_leader, opts_.w_membership,
                              opts_.w_transfer,    sql_runner_ ? opts_.w_lease_attack : 0,
                              opts_.w_figure8,     opts_.w_ongaro,         opts_.w_stale_reply};
  // An episode in progress owns the network until it ends.
  if (figure8_) {
    if (q_.now() > figure8_->deadline) figure8_end("timed out");
    return;
  }
  if (ongaro_) {
    if (q_.now() > ongaro_->deadline) ongaro_end("done");
    return;
  }
  if (stale_) {
    if (q_.now() > stale_->deadline) stale_end("timed out");
    return;
  }
  uint64_t total = 0;
  for (uint32_t w : weights) total += w;
  if (total == 0) return;
  uint64_t r = prng_.below(total);
  size_t action = 0;
  while (r >= weights[action]) r -= weights[action++];
  Host& h = *hosts_[prng_.below(hosts_.size())];
  trace_.add(6, action, h.id.v);
  // Partitions flap, but each shape holds for at least a minimum stable window.
  const bool reshapes = action == 0 || action == 1 || action == 7 || action == 10;
  if (reshapes && q_.now() < last_reshape_ + opts_.partition_min_stable) return;
  if (reshapes) last_reshape_ = q_.now();
  switch (action) {
    case 0:
      partition_random();
      break;
    case 1:
      net_->heal_all();
      ++heals_;
      note("heal");
      break;
    case 2: {
      // Sometimes power fails for several nodes at once: the case where unsynced writes on a
      // majority are lost together.
      const size_t count = prng_.below(4) == 0 ? prng_.range(1, host_count()) : 1;
      for (size_t k = 0; k < count; ++k) {
        Host& victim = k == 0 ? h : *hosts_[prng_.below(hosts_.size())];
        if (!victim.up || victim.decommissioned) continue;
        crash(victim, count > 1 ? "power loss" : "crash");
        const auto down = static_cast<uint64_t>(opts_.down_max.count());
        q_.after(Duration(static_cast<int64_t>(prng_.below(down + 1))), [this, &victim] {
          if (!liveness_) restart(victim);
        });
      }
      break;
    }
    case 3: {
      if (!h.up) break;
      const auto d = Duration(static_cast<int64_t>(prng_.below(static_cast<uint64_t>(opts_.pause_max.count()) + 1)));
      h.busy_until = std::max(h.busy_until, q_.now() + d);
      ++pauses_;
      note("node=" + std::to_string(h.id.v) + " pause");
      break;
    }
    case 4: {
      const auto d =
          Duration(static_cast<int64_t>(prng_.below(static_cast<uint64_t>(opts_.clock_jump_max.count()) + 1)));
      h.clock->jump(d);
      ++clock_jumps_;
      note("node=" + std::to_string(h.id.v) + " clock jump");
      break;
    }
    case 6: {
      Host* l = current_leader();
      if (l == nullptr) break;
      crash(*l, "kill leader");
      // Back soon: the churn of Figure 8 needs old leaders to return with their tails.
      const auto down = static_cast<uint64_t>((opts_.tick * opts_.election_ticks * 2).count());
      q_.after(Duration(static_cast<int64_t>(prng_.below(down + 1))), [this, l] {
        if (!liveness_) restart(*l);
      });
      break;
    }
    case 7: {
      Host* l = current_leader();
      if (l == nullptr) break;
      net_->heal_all();
      ++partitions_;
      // Cut the leader off (sometimes only its outbound side), with one follower at most.
      const NodeId buddy = random_host();
      const bool outbound_only = prng_.below(3) == 0;
      for (size_t k = 1; k <= host_count(); ++k) {
        const NodeId other(k);
        if (other == l->id || (other == buddy && host_count() >= 5)) continue;
        net_->set_link(l->id, other, false);
        if (!outbound_only) net_->set_link(other, l->id, false);
      }
      note("partition isolate leader " + std::to_string(l->id.v));
      break;
    }
    case 8:
      if (!op_) start_member_op();
      break;
    case 9:
      transfer_leadership();
      break;
    case 11:
      figure8_begin();
      break;
    case 12:
      ongaro_begin();
      break;
    case 13:
      stale_begin();
      break;
    case 10: {
      Host* l = current_leader();
      // Worth it when the leader's clock is the slow one: its lease then outlasts the others'
      // patience the most a correct lease must allow for.
      if (l == nullptr || (opts_.drift_extremes && l->clock->drift_ppm() > 0)) break;
      net_->heal_all();
      ++partitions_;
      for (size_t k = 1; k <= host_count(); ++k) {
        if (NodeId(k) == l->id) continue;
        net_->set_link(l->id, NodeId(k), false);
        net_->set_link(NodeId(k), l->id, false);
      }
      // Reads go to the old leader, writes through the others, for a few election timeouts.
      sql_runner_->focus_reads(static_cast<int>(l->id.v), q_.now() + opts_.tick * opts_.election_ticks * 3);
      ++lease_attacks_;
      note("lease attack: leader " + std::to_string(l->id.v) + " cut off, clients read from it");
      break;
    }
    default: {
      const NodeId to = random_host();
      if (to == h.id) break;
      const auto d = Duration(static_cast<int64_t>(prng_.below(static_cast<uint64_t>(opts_.pause_max.count()) + 1)));
      net_->clog(h.id, to, q_.now() + d);
      if (prng_.below(2) == 0) net_->clog(to, h.id, q_.now() + d);
      ++clogs_;
      break;
    }
  }
}

// ---- Figure 8 ----------------------------------------------------------------------------

void Simulation::isolate(NodeId x, bool keep_one, NodeId keep) {
  for (size_t k = 1; k <= host_count(); ++k) {
    const NodeId other(k);
    if (other == x || (keep_one && other == keep)) continue;
    net_->set_link(x, other, false);
    net_->set_link(other, x, false);
  }
}

void Simulation::figure8_begin() {
  Host* l = current_leader();
  if (l == nullptr || liveness_) return;
  net_->heal_all();
  isolate(l->id, false, NodeId{});
  ++partitions_;
  ++figure8_episodes_;
  figure8_ = Figure8{1, l->id, NodeId{}, q_.now() + opts_.tick * opts_.election_ticks * 8};
  note("figure 8: leader " + std::to_string(l->id.v) + " cut off with its tail");
}

void Simulation::figure8_on_leader(NodeId n) {
  Figure8& f = *figure8_;
  const Duration election = opts_.tick * opts_.election_ticks;
  if (f.phase == 1 && n != f.first) {
    // The second leader's first entry stays on it alone: cut it off before its Ready's
    // messages leave; the first comes back to everyone else.
    f.second = n;
    net_->heal_all();
    isolate(n, false, NodeId{});
    f.phase = 2;
    f.deadline = q_.now() + election * 8;
    note("figure 8: leader " + std::to_string(n.v) + " cut off at once; " + std::to_string(f.first.v) + " back");
  } else if (f.phase == 2 && n == f.first) {
    f.phase = 3;
    f.deadline = q_.now() + election * 8;
    note("figure 8: " + std::to_string(n.v) + " leads again");
  } else if (f.phase >= 2) {
    figure8_end("another node won");
  }
}

void Simulation::figure8_on_applied(NodeId n, const raft::Entry& e, Term term) {
  Figure8& f = *figure8_;
  if (f.phase != 3 || n != f.first || e.term >= term) return;
  // It applied an entry of its old tail: dies now, before the rest (and its own term's first
  // entry) reach the others; the second leader comes back.
  Host& h = host(n);
  const uint64_t inc = h.incarnation;
  const NodeId second = f.second;
  ++figure8_completed_;
  figure8_.reset();
  q_.at(host_now(h), [this, &h, inc, second] {
    if (h.incarnation != inc || !h.up || liveness_) return;
    crash(h, "figure 8: applied an old entry");
    net_->heal_all();
    note("figure 8: " + std::to_string(second.v) + " back");
    q_.after(opts_.tick * opts_.election_ticks * 3, [this, &h] {
      if (!liveness_) restart(h);
    });
  });
}

void Simulation::figure8_end(const char* why) {
  note(std::string("figure 8: over (") + why + ")");
  figure8_.reset();
  net_->heal_all();
}

// ---- Ongaro's membership scenario --------------------------------------------------------

void Simulation::ongaro_begin() {
  Host* l = current_leader();
  if (l == nullptr || op_ || liveness_) return;
  const raft::Raft& r = l->node->raft();
  // Four voters, all up, and a leader free to change the config (it committed in its term and
  // no change is pending): the first change is a legal one.
  const std::vector<NodeId> voters = r.voters();
  if (voters.size() != 4) return;
  for (NodeId v : voters) {
    if (raft_of(v) == nullptr) return;
  }
  if (r.log().term(r.log().committed()) != r.term() || r.configs().current_index() > r.log().committed()) return;
  std::vector<NodeId> others;
  for (NodeId v : voters) {
    if (v != l->id) others.push_back(v);
  }
  for (size_t k = others.size(); k > 1; --k) std::swap(others[k - 1], others[prng_.below(k)]);
  Ongaro o{1, l->id, others[0], others[1], r.term(), q_.now() + opts_.tick * opts_.election_ticks * 10};
  net_->heal_all();
  isolate(l->id, false, NodeId{});
  ++partitions_;
  ongaro_ = o;
  ++ongaro_episodes_;
  run_on(*l, l->incarnation, [this, l, o] {
    const MembershipResult res = l->node->remove_member(o.removed);
    note("ongaro: leader " + std::to_string(l->id.v) + " removes " + std::to_string(o.removed.v) +
         " and is cut off (" + (res.status == MembershipResult::Status::kProposed ? "proposed" : "refused") + ")");
    if (res.status != MembershipResult::Status::kProposed) ongaro_end("the removal was refused");
  });
}

void Simulation::ongaro_on_leader(NodeId n, Term term) {
  Ongaro& o = *ongaro_;
  if (o.phase != 1 || n == o.first || term <= o.term) return;
  if (n == o.partner) {
    ongaro_end("the partner won");
    return;
  }
  // Split {first, partner} from {second leader, the other}, before the second's first entries
  // reach the partner: the partner then still votes for the first, whose log holds the removal.
  o.phase = 2;
  ++ongaro_split_;
  for (size_t a = 1; a <= host_count(); ++a) {
    for (size_t b = 1; b <= host_count(); ++b) {
      const bool a_side = NodeId(a) == o.first || NodeId(a) == o.partner;
      const bool b_side = NodeId(b) == o.first || NodeId(b) == o.partner;
      if (a_side != b_side) net_->set_link(NodeId(a), NodeId(b), false);
    }
  }
  net_->set_link(o.first, o.partner, true);
  net_->set_link(o.partner, o.first, true);
  note("ongaro: " + std::to_string(n.v) + " leads term " + std::to_string(term.v) + "; split {" +
       std::to_string(o.first.v) + "," + std::to_string(o.partner.v) + "}; asked to remove " +
       std::to_string(o.first.v));
  // Asked as soon as it is done with the Ready that made it leader (this runs inside it).
  q_.after(Duration(1), [this, n] { ongaro_ask_removal(n, 0); });
}

void Simulation::ongaro_ask_removal(NodeId leader, int tries) {
  if (!ongaro_ || ongaro_->phase != 2 || tries > 30) return;
  Host& h = host(leader);
  if (!h.up) return;
  const NodeId first = ongaro_->first;
  run_on(h, h.incarnation, [this, &h, leader, first, tries] {
    const MembershipResult res = h.node->remove_member(first);
    if (res.status == MembershipResult::Status::kProposed) {
      note("ongaro: " + std::to_string(leader.v) + " proposed removing " + std::to_string(first.v));
      return;
    }
    // A correct leader refuses until it committed an entry of its term, which it cannot
    // without a majority of the old config: ask again a little later.
    q_.after(opts_.tick, [this, leader, tries] { ongaro_ask_removal(leader, tries + 1); });
  });
}

void Simulation::ongaro_end(const char* why) {
  note(std::string("ongaro: over (") + why + ")");
  ongaro_.reset();
  net_->heal_all();
}

// ---- a reply that outlives two term changes ----------------------------------------------

void Simulation::stale_begin() {
  Host* l = current_leader();
  if (l == nullptr || op_ || liveness_) return;
  const std::vector<NodeId> voters = l->node->raft().voters();
  if (voters.size() < 5) return;
  for (NodeId v : voters) {
    if (raft_of(v) == nullptr) return;
  }
  std::vector<NodeId> others;
  for (NodeId v : voters) {
    if (v != l->id) others.push_back(v);
  }
  StaleReply s;
  s.phase = 1;
  s.first = l->id;
  s.follower = others[prng_.below(others.size())];
  const Duration election = opts_.tick * opts_.election_ticks;
  s.deadline = q_.now() + election * 20;
  // The leader keeps one follower, whose answers reach it, and copies of them are held until
  // the leader leads again: acknowledgements of a term that will be over.
  net_->heal_all();
  isolate(l->id, true, s.follower);
  net_->echo(s.follower, l->id, q_.now() + election * 2);
  ++partitions_;
  ++stale_episodes_;
  stale_ = s;
  note("stale reply: leader " + std::to_string(l->id.v) + " keeps only " + std::to_string(s.follower.v) +
       ", whose answers are held");
  // A tail for the follower to acknowledge, longer than what the next leader will write before
  // the first leads again (entries the state machine takes as no-ops: nobody waits for them).
  run_on(*l, l->incarnation, [l] {
    for (int k = 0; k < 24; ++k) (void)l->node->propose("stale-reply-tail-" + std::to_string(k));
  });
  q_.after(election * 2, [this] { stale_step(); });
}

void Simulation::stale_step() {
  if (!stale_) return;
  StaleReply& s = *stale_;
  const Duration election = opts_.tick * opts_.election_ticks;
  if (s.phase == 1) {
    // Both cut off while the others elect a leader; then the follower joins them, and that
    // leader replaces the tail it took from the first.
    isolate(s.first, false, NodeId{});
    isolate(s.follower, false, NodeId{});
    s.phase = 2;
    note("stale reply: " + std::to_string(s.first.v) + " and " + std::to_string(s.follower.v) + " cut off");
    // The others may have elected a leader already.
    if (Host* l = current_leader(); l != nullptr && l->id != s.first && l->id != s.follower) {
      stale_on_leader(l->id, l->node->raft().term());
    }
  } else if (s.phase == 3) {
    // The second leader has the follower in step: everyone but the first meets again, and the
    // second hands leadership to the first.
    for (size_t k = 1; k <= host_count(); ++k) {
      if (NodeId(k) == s.first) continue;
      net_->set_link(s.first, NodeId(k), true);
      if (NodeId(k) != s.follower) net_->set_link(NodeId(k), s.first, true);
    }
    net_->set_link(s.follower, s.first, true);
    Host& h = host(s.second);
    if (!h.up) {
      stale_end("the second leader is down");
      return;
    }
    const NodeId first = s.first;
    run_on(h, h.incarnation, [this, &h, first] {
      if (h.node->transfer_leadership(first)) {
        // Its TimeoutNow may be held in the network: the stickiness check waits it out.
        ++transfers_;
        last_transfer_at_ = q_.now();
      }
    });
    note("stale reply: " + std::to_string(s.second.v) + " hands leadership to " + std::to_string(s.first.v));
    q_.after(election * 4, [this] {
      if (stale_ && stale_->phase == 3) stale_end("no transfer");
    });
  } else if (s.phase == 5) {
    // The held answers have arrived. The first leader dies, its other follower is cut off, and
    // the rest elect a leader that never held what it appended in its second term.
    Host& h = host(s.first);
    if (h.up) crash(h, "stale reply: first leader");
    net_->heal_all();
    for (NodeId o : s.others) isolate(o, false, NodeId{});
    s.phase = 6;
    s.deadline = q_.now() + election * 4;
    q_.after(election * 3, [this, &h] {
      if (!liveness_) restart(h);
    });
  }
}

void Simulation::stale_on_leader(NodeId n, Term) {
  StaleReply& s = *stale_;
  const Duration election = opts_.tick * opts_.election_ticks;
  if (s.phase == 2 && n != s.first && n != s.follower) {
    s.second = n;
    for (size_t k = 1; k <= host_count(); ++k) {
      if (NodeId(k) == s.first || NodeId(k) == s.follower) continue;
      net_->set_link(s.follower, NodeId(k), true);
      net_->set_link(NodeId(k), s.follower, true);
    }
    s.phase = 3;
    note("stale reply: " + std::to_string(n.v) + " leads; " + std::to_string(s.follower.v) + " joins it");
    q_.after(election * 2, [this] { stale_step(); });
  } else if (s.phase == 3 && n == s.first) {
    // Leading again with followers that, with itself and the held answers of the first follower,
    // make a majority; those hear only it. The rest (with the first follower) are a majority too.
    const std::vector<NodeId>& voters = host(n).node->raft().voters();
    std::vector<NodeId> pick;
    for (NodeId v : voters) {
      if (v != s.first && v != s.follower && v != s.second) pick.push_back(v);
    }
    const size_t want = voters.size() / 2 + 1 - 2;
    if (pick.size() < want) {
      stale_end("too few followers");
      return;
    }
    for (size_t k = pick.size(); k > 1; --k) std::swap(pick[k - 1], pick[prng_.below(k)]);
    s.others.assign(pick.begin(), pick.begin() + static_cast<std::ptrdiff_t>(want));
    auto with_first = [&s](NodeId x) {
      return x == s.first || std::find(s.others.begin(), s.others.end(), x) != s.others.end();
    };
    for (size_t a = 1; a <= host_count(); ++a) {
      for (size_t b = 1; b <= host_count(); ++b) {
        if (with_first(NodeId(a)) != with_first(NodeId(b))) net_->set_link(NodeId(a), NodeId(b), false);
      }
    }
    net_->set_link(s.follower, s.first, true);  // the held copies come below
    s.phase = 4;
    std::string names;
    for (NodeId o : s.others) names += " " + std::to_string(o.v);
    note("stale reply: " + std::to_string(n.v) + " leads again with" + names + "; held answers of " +
         std::to_string(s.follower.v) + " due");
    // Let it append a little first (its no-op, what clients send it), so the held
    // acknowledgements cover entries of its new term.
    const Duration at = q_.now() + election / 2;
    net_->clog(s.follower, s.first, at);
    s.deadline = at + election * 8;
    q_.at(at, [this] {
      if (!stale_ || stale_->phase != 4) return;
      ++stale_released_;
      stale_->phase = 5;
      note("stale reply: held answers released");
      q_.after(opts_.tick * opts_.election_ticks, [this] { stale_step(); });
    });
  } else if (s.phase == 2 || s.phase == 3) {
    if (n == s.follower || (s.phase == 3 && n != s.second)) stale_end("another node won");
  }
}

void Simulation::stale_end(const char* why) {
  note(std::string("stale reply: over (") + why + ")");
  stale_.reset();
  net_->heal_all();
}

// ---- membership --------------------------------------------------------------------------

void Simulation::transfer_leadership() {
  Host* l = current_leader();
  if (l == nullptr) return;
  const std::vector<NodeId>& voters = l->node->raft().voters();
  if (voters.size() < 2) return;
  const NodeId to = voters[prng_.below(voters.size())];
  run_on(*l, l->incarnation, [this, l, to] {
    if (l->node->transfer_leadership(to)) {
      ++transfers_;
      last_transfer_at_ = q_.now();
      note("node=" + std::to_string(l->id.v) + " transfers leadership to " + std::to_string(to.v));
    }
  });
}

void Simulation::start_member_op() {
  using Kind = MemberOp::Kind;
  const raft::Membership& cfg = committed_config_;
  std::vector<NodeId> outsiders, voters, learners;
  for (size_t k = 1; k <= host_count(); ++k) {
    const NodeId id(k);
    if (!cfg.contains(id)) {
      outsiders.push_back(id);
    } else if (cfg.is_voter(id)) {
      voters.push_back(id);
    } else {
      learners.push_back(id);
    }
  }
  auto pick = [this](const std::vector<NodeId>& v) { return v[prng_.below(v.size())]; };
  MemberOp op;
  switch (prng_.below(6)) {
    case 0:
    case 1:
      if (outsiders.empty()) return;
      op.kind = prng_.below(3) == 0 ? Kind::kAddLearner : Kind::kAddVoter;
      op.target = pick(outsiders);
      break;
    case 2:
      // Keep at least three voters, so removals leave a cluster worth attacking.
      if (voters.size() <= 3 && learners.empty()) return;
      op.kind = Kind::kRemove;
      op.target = voters.size() > 3 ? pick(voters) : pick(learners);
      break;
    case 3:
      if (learners.empty()) return;
      op.kind = Kind::kPromote;
      op.target = pick(learners);
      break;
    case 4:
      op.kind = Kind::kReaddress;
      op.target = pick(voters);
      break;
    default:
      if (voters.size() <= 3 && learners.empty()) return;
      op.kind = Kind::kWipeRejoin;
      op.target = voters.size() > 3 ? pick(voters) : pick(learners);
      op.removing = true;
      break;
  }
  const raft::Member* cur = cfg.find(op.target);
  op.voter = op.kind == Kind::kAddVoter || op.kind == Kind::kPromote || (cur != nullptr && cur->voter);
  if (op.kind == Kind::kAddLearner) op.voter = false;
  op.address = cur != nullptr ? cur->address : "n" + std::to_string(op.target.v);
  if (op.kind == Kind::kReaddress || (op.kind != Kind::kPromote && cur == nullptr && prng_.below(2) == 0)) {
    op.address = "n" + std::to_string(op.target.v) + "-" + std::to_string(++address_epoch_);
  }
  Host& h = host(op.target);
  if (op.kind == Kind::kAddVoter || op.kind == Kind::kAddLearner) {
    // A joining node runs before it asks (rqlite's -join); one that was removed may come back
    // with its old disk, or an empty one.
    if (h.up && prng_.below(3) == 0) crash(h, "rejoin with a wiped disk");
    if (!h.up) {
      if (prng_.below(2) == 0) {
        h.disk->wipe();
        h.identity = prng_.next_u64() | 1;
        h.bootstrap = false;
        checker_->on_wiped(h.id);
        ++wipes_;
      }
      h.decommissioned = false;
      restart(h);
    }
  }
  note("membership: " + std::string(op.kind == Kind::kRemove ? "remove" : op.kind == Kind::kWipeRejoin ? "wipe+rejoin"
                                    : op.kind == Kind::kPromote ? "promote" : op.kind == Kind::kReaddress ? "re-address"
                                    : op.voter ? "add voter" : "add non-voter") +
       " " + std::to_string(op.target.v) + " at " + op.address);
  op_ = op;
  member_request();
}

void Simulation::member_retry(Duration after) {
  const uint64_t attempt = op_->attempt;
  q_.after(after, [this, attempt] {
    if (op_ && op_->attempt == attempt) member_request();
  });
}

void Simulation::member_request() {
  MemberOp& op = *op_;
  const uint64_t attempt = ++op.attempt;
  op.pending_node = NodeId{};
  const NodeId contact = op.contact.valid() ? op.contact : random_host();
  op.contact = NodeId{};
  // Unknown outcome after a while: ask again (joins and removes are idempotent).
  q_.after(opts_.tick * opts_.election_ticks * 4, [this, attempt] {
    if (op_ && op_->attempt == attempt) member_request();
  });
  const Duration hop = std::chrono::microseconds(100);
  const bool remove = op.kind == MemberOp::Kind::kRemove || op.removing;
  Host& joiner = host(op.target);
  if (!remove && joiner.up && joiner.service && prng_.below(2) == 0) {
    // rqlite's -join as rqlited runs it: the joiner asks `contact` over the cluster channel
    // (svc::Service::join), under the same network faults as everything else; a follower's
    // answer names the leader, asked next.
    q_.after(hop, [this, contact, attempt, target = op.target] {
      Host& j = host(target);
      if (!j.up || !op_ || op_->attempt != attempt) return;
      run_on(j, j.incarnation, [this, &j, contact, attempt] {
        if (!op_ || op_->attempt != attempt || !j.service) return;
        const MemberOp& op = *op_;
        ++joins_asked_;
        j.service->join(contact, op.address, op.voter, opts_.tick * opts_.election_ticks * 2,
                        [this, attempt, contact](const MembershipResult& r) {
                          member_result(attempt, contact, r);
                        });
      });
    });
    return;
  }
  q_.after(hop, [this, contact, attempt] {
    Host& h = host(contact);
    if (!h.up || !op_ || op_->attempt != attempt) return;
    run_on(h, h.incarnation, [this, &h, attempt] {
      if (!op_ || op_->attempt != attempt) return;
      const MemberOp& op = *op_;
      const bool remove = op.kind == MemberOp::Kind::kRemove || op.removing;
      const MembershipResult r =
          remove ? h.node->remove_member(op.target)
                 : h.node->join(op.target, op.address, op.voter, host(op.target).identity);
      member_result(attempt, h.id, r);
    });
  });
}

void Simulation::member_result(uint64_t attempt, NodeId at, const MembershipResult& r) {
  if (!op_ || op_->attempt != attempt) return;
  switch (r.status) {
    case MembershipResult::Status::kProposed:
      op_->pending_node = at;
      op_->pending_index = r.index;
      op_->pending_term = r.term;
      break;
    case MembershipResult::Status::kAlready:
      q_.after(std::chrono::microseconds(100), [this, attempt] {
        if (op_ && op_->attempt == attempt) member_phase_done();
      });
      break;
    case MembershipResult::Status::kNotLeader:
      op_->contact = r.leader;
      member_retry(std::chrono::milliseconds(5));
      break;
    case MembershipResult::Status::kRetry:
      op_->contact = at;
      member_retry(opts_.tick * 2);
      break;
    case MembershipResult::Status::kInvalid:
      note("membership: refused: " + r.error);
      op_.reset();
      break;
  }
}

void Simulation::member_phase_done() {
  MemberOp& op = *op_;
  ++membership_changes_;
  Host& h = host(op.target);
  if (op.kind == MemberOp::Kind::kWipeRejoin && op.removing) {
    // Removed for good: now wipe it and bring it back as a brand-new node with the same id.
    crash(h, "wipe");
    h.disk->wipe();
    h.identity = prng_.next_u64() | 1;
    h.bootstrap = false;
    checker_->on_wiped(h.id);
    ++wipes_;
    restart(h);
    op.removing = false;
    op.address = "n" + std::to_string(op.target.v) + "-" + std::to_string(++address_epoch_);
    note("membership: rejoin " + std::to_string(op.target.v) + " at " + op.address);
    member_retry(opts_.tick);
    return;
  }
  if (op.kind == MemberOp::Kind::kRemove && h.up && prng_.below(2) == 0) {
    // Half the removed nodes are switched off; the rest keep running outside the cluster, where
    // they must not disturb it.
    crash(h, "decommissioned");
    h.decommissioned = true;
  }
  op_.reset();
}

// ---- phases ------------------------------------------------------------------------------

void Simulation::begin_liveness() {
  liveness_ = true;
  figure8_.reset();
  ongaro_.reset();
  stale_.reset();
  heal_at_ = q_.now();
  // A membership change in flight is finished (as an operator would), not abandoned halfway.
  std::vector<NodeId> all;
  for (size_t k = 1; k <= host_count(); ++k) all.push_back(NodeId(k));
  // With a static membership, a random majority (or more) is healed and the rest stay cut off or
  // down. When membership changed (or has non-voters), everything is healed and the members of
  // the final leader's config must converge. A cluster founded by -bootstrap-expect needs every
  // founder to show up once (rqlite's too: N nodes must notify), so everything is healed then.
  heal_all_ = opts_.w_membership > 0 || opts_.learners > 0 || opts_.bootstrap_expect;
  if (heal_all_) {
    core_ = all;
  } else {
    for (size_t k = all.size(); k > 1; --k) std::swap(all[k - 1], all[prng_.below(k)]);
    const size_t size = prng_.range(host_count() / 2 + 1, host_count());
    core_.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(size));
    std::sort(core_.begin(), core_.end());
  }
  std::string names;
  for (NodeId c : core_) names += " " + std::to_string(c.v);
  note("liveness phase: healing" + names);

  NetworkOptions no = opts_.net;
  no.faults = false;
  net_->set_options(no);
  net_->heal_all();
  for (NodeId out : all) {
    if (std::find(core_.begin(), core_.end(), out) != core_.end()) continue;
    for (size_t j = 1; j <= host_count(); ++j) {
      net_->set_link(out, NodeId(j), false);
      net_->set_link(NodeId(j), out, false);
    }
  }
  SimDiskOptions dopts = opts_.disk;
  dopts.sync_fail_ppm = 0;
  for (auto& h : hosts_) h->disk->set_options(dopts);
  for (NodeId c : core_) {
    Host& h = host(c);
    h.decommissioned = false;
    if (!h.up) restart(h);
  }
  watch_fresh_acks();
  check_liveness();
}

// The nodes that must converge: the healed majority, or every member of the leader's config.
static std::vector<NodeId> convergence_targets(const raft::Raft* leader, const std::vector<NodeId>& core,
                                               bool heal_all) {
  if (!heal_all || leader == nullptr) return core;
  std::vector<NodeId> out;
  for (const raft::Member& m : leader->membership().members()) out.push_back(m.id);
  return out;
}

void Simulation::check_liveness() {
  if (done_ || checker_->failed()) return;
  const raft::Raft* leader = nullptr;
  for (NodeId c : core_) {
    if (const raft::Raft* r = raft_of(c); r != nullptr && r->role() == raft::Role::kLeader) {
      if (leader == nullptr || r->term() > leader->term()) leader = r;
    }
  }
  const std::vector<NodeId> targets = convergence_targets(leader, core_, heal_all_);
  // Once a fresh write is acknowledged, converging may take longer than the bound when the
  // laggards are far behind (one small message in flight at a time), but it must keep going:
  // the bound then counts from the last time a target applied something, up to four bounds.
  if (first_fresh_ack()) {
    uint64_t applied = 0;
    for (NodeId c : targets) {
      if (const raft::Raft* r = raft_of(c)) applied += r->log().applied().v;
    }
    if (applied != converge_applied_) {
      converge_applied_ = applied;
      converge_progress_at_ = q_.now();
    }
  }
  const Duration quiet_since = first_fresh_ack() ? std::max(heal_at_, converge_progress_at_) : heal_at_;
  // Past four bounds, waiting goes on only while the laggards catch up on a log that no longer
  // changes (same leader, term and last index for the last two bounds): that ends, since each
  // step applies more of a fixed log, and a stall is caught by the quiet bound. A log that keeps
  // changing (elections, entries) that late is a liveness failure. (Seed 82100: a node wiped and
  // rejoined just before healing caught up 5,866 entries two per message with one message in
  // flight, about 90 a second: correct, and slower than four bounds.)
  if (leader != nullptr) {
    const std::tuple<uint64_t, uint64_t, uint64_t> log{leader->id().v, leader->term().v, leader->log().last_index().v};
    if (log != converge_log_) {
      converge_log_ = log;
      converge_log_at_ = q_.now();
    }
  }
  const bool catching_up = first_fresh_ack() && leader != nullptr && q_.now() - converge_log_at_ > opts_.liveness_bound * 2;
  if (q_.now() - quiet_since > opts_.liveness_bound ||
      (q_.now() - heal_at_ > opts_.liveness_bound * 4 && !catching_up)) {
    std::string why = first_fresh_ack() ? "healed nodes did not converge" : "no write acknowledged";
    why += " [";
    for (NodeId c : targets) {
      const raft::Raft* r = raft_of(c);
      why += " n" + std::to_string(c.v) + ":";
      if (r == nullptr) {
        why += "down";
        continue;
      }
      why += std::string(raft::to_string(r->role())) + "/t" + std::to_string(r->term().v) + "/c" +
             std::to_string(r->log().committed().v) + "/a" + std::to_string(r->log().applied().v) + "/l" +
             std::to_string(r->log().last_index().v);
      if (!r->membership().is_self(c, host(c).node->incarnation())) why += "/not-member";
      why += "/voters";
      for (NodeId v : r->voters()) why += (v == r->voters().front() ? ":" : ",") + std::to_string(v.v);
      if (r->voters().empty()) why += ":none";
      if (leader != nullptr) {
        auto it = leader->progress().find(c);
        if (it != leader->progress().end()) {
          why += "/pr" + std::to_string(static_cast<int>(it->second.state)) + ":m" +
                 std::to_string(it->second.match.v) + ":n" + std::to_string(it->second.next.v);
        }
      }
    }
    why += " ]";
    checker_->fail("liveness", NodeId{}, why + " within " +
                                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                opts_.liveness_bound)
                                                                .count()) +
                                             " ms of healing");
    return;
  }
  if (first_fresh_ack()) {
    // The healed nodes made progress; now let them quiesce: converged when every target has
    // applied everything the leader has (and then all must hold the same state).
    stop_clients();
    bool converged = leader != nullptr && leader->log().committed() == leader->log().last_index();
    for (NodeId c : targets) {
      const raft::Raft* r = raft_of(c);
      if (!converged || r == nullptr || r->log().applied() != leader->log().last_index()) converged = false;
    }
    // A membership change still being finished decides who must converge and answer the final
    // reads (seed 3323 of the register workload: a removal that completed during the final
    // reads switched its node off, and the node's final reader never got an answer).
    if (converged && op_) converged = false;
    if (converged) {
      core_ = targets;
      if (start_stickiness_check(*leader)) return;
      finish();
      return;
    }
  }
  q_.after(opts_.tick, [this] { check_liveness(); });
}

bool Simulation::start_stickiness_check(const raft::Raft& leader) {
  // Not while a membership change is being finished (the nemesis's, or one an episode proposed
  // directly that is still uncommitted): it may remove the leader or the follower, and a node it
  // removes hears no heartbeats.
  if (!opts_.stickiness_check || stickiness_started_ || op_) return false;
  if (leader.configs().current_index() > leader.log().committed()) return false;
  // A leadership transfer's TimeoutNow may still be on its way (held in the network): when it
  // arrives, the leader's successor takes over as asked, which is no failure of stickiness.
  const Duration drain = opts_.net.hold_max + opts_.net.hold_max / 4 + opts_.net.latency_min +
                         opts_.net.latency_spread * 10 + opts_.tick * opts_.election_ticks;
  if (transfers_ > 0 && q_.now() < last_transfer_at_ + drain) {
    // Converged already: the liveness bound starts again once the wait is over.
    q_.at(last_transfer_at_ + drain, [this] {
      heal_at_ = q_.now();
      check_liveness();
    });
    return true;
  }
  stickiness_started_ = true;
  // A follower to cut off from the leader, such that the leader still reaches a majority of its
  // voters: with leader stickiness nothing may change; without, the follower that cannot hear it
  // wins pre-votes from the others and deposes it, again and again.
  const std::vector<NodeId>& voters = leader.voters();
  std::vector<NodeId> reached;  // voters up, healed and linked to the leader
  for (NodeId v : voters) {
    if (std::find(core_.begin(), core_.end(), v) != core_.end() && raft_of(v) != nullptr) reached.push_back(v);
  }
  if (reached.size() < voters.size() / 2 + 2) return false;  // cutting one more would lose the quorum
  std::vector<NodeId> followers;
  for (NodeId v : reached) {
    if (v != leader.id()) followers.push_back(v);
  }
  const NodeId cut = followers[prng_.below(followers.size())];
  net_->set_link(leader.id(), cut, false);
  net_->set_link(cut, leader.id(), false);
  ++stickiness_checks_;
  note("stickiness check: leader " + std::to_string(leader.id().v) + " of term " + std::to_string(leader.term().v) +
       " cut off from " + std::to_string(cut.v));
  // Ten election timeouts of the slowest clock.
  const Duration wait = opts_.tick * opts_.election_ticks * 10 * (1'000'000 + opts_.drift_ppm_max) / 1'000'000;
  q_.after(wait, [this, id = leader.id(), term = leader.term(), cut] { finish_stickiness_check(id, term, cut); });
  return true;
}

void Simulation::finish_stickiness_check(NodeId leader, Term term, NodeId cut) {
  if (done_ || checker_->failed()) return;
  const raft::Raft* r = raft_of(leader);
  Term highest = term;
  for (NodeId c : core_) {
    if (const raft::Raft* o = raft_of(c)) highest = std::max(highest, o->term());
  }
  if (r == nullptr || r->role() != raft::Role::kLeader || r->term() != term || highest != term) {
    checker_->fail("liveness", leader,
                   "the leader of term " + std::to_string(term.v) + " was deposed (terms reached " +
                       std::to_string(highest.v) + ") while it reached a majority: only node " +
                       std::to_string(cut.v) + " was cut off from it");
    return;
  }
  // Reconnect the follower; everyone must converge again (on what was written meanwhile).
  net_->set_link(leader, cut, true);
  net_->set_link(cut, leader, true);
  note("stickiness check passed: reconnecting " + std::to_string(cut.v));
  heal_at_ = q_.now();
  check_liveness();
}

void Simulation::finish() {
  std::optional<uint64_t> digest;
  for (NodeId c : core_) {
    checker_->check_acknowledged_present(c);
    const Host& h = host(c);
    // The simulator's own bug if a healed node went down after converging.
    RQ_ASSERT(h.up);
    if (digest && *digest != h.digest()) {
      checker_->fail("convergence", c, "state digest differs between healed nodes at the same applied index");
    }
    digest = h.digest();
  }
  if (!sql_runner_ || checker_->failed()) {
    done_ = true;
    return;
  }
  // Every healed node answers the workload's final reads; then what the clients saw is judged
  // as a whole.
  std::vector<int> nodes;
  for (NodeId c : core_) nodes.push_back(static_cast<int>(c.v));
  note("final reads from " + std::to_string(nodes.size()) + " nodes");
  sql_runner_->final_reads(nodes, [this](bool all_ok) {
    if (done_ || checker_->failed()) return;
    if (!all_ok) {
      checker_->fail("liveness", NodeId{}, "a healed node did not answer its final reads within " +
                                               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                  opts_.liveness_bound)
                                                                  .count()) +
                                               " ms");
    } else if (auto f = sql_runner_->check()) {
      checker_->fail(f->reason, NodeId{}, f->detail);
    }
    done_ = true;
  });
}

std::optional<Duration> Simulation::first_fresh_ack() const {
  return sql_runner_ ? sql_runner_->first_fresh_ack() : workload_->first_fresh_ack();
}

void Simulation::watch_fresh_acks() {
  if (sql_runner_) {
    sql_runner_->watch_fresh_acks(q_.now());
  } else {
    workload_->watch_fresh_acks(q_.now());
  }
}

void Simulation::stop_clients() {
  if (sql_runner_) {
    sql_runner_->stop();
  } else {
    workload_->stop();
  }
}

std::vector<wl::TimedEvent> Simulation::history() const {
  return sql_runner_ ? sql_runner_->events() : std::vector<wl::TimedEvent>{};
}

// ---- run ---------------------------------------------------------------------------------

RunResult Simulation::run() {
  for (auto& h : hosts_) start_node(*h);
  if (sql_runner_) {
    sql_runner_->start();
  } else {
    workload_->start();
  }
  schedule_nemesis();
  q_.at(opts_.safety_duration, [this] { begin_liveness(); });

  // Bounded, whatever happens: a livelock in the simulated system must not hang the sweep.
  // 5 million events, or 200 thousand per simulated second of a longer safety phase.
  const auto safety_s = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(opts_.safety_duration).count());
  const uint64_t max_events = std::max<uint64_t>(15'000'000, safety_s * 500'000);
  // The liveness phase may run four bounds while laggards catch up, plus the stickiness check.
  // Then the final reads (one more bound).
  const Duration max_time = opts_.safety_duration + opts_.liveness_bound * 7 + opts_.net.hold_max * 2 +
                            opts_.tick * opts_.election_ticks * 20 + std::chrono::seconds(10);
  while (!done_ && !checker_->failed() && q_.executed() < max_events && q_.now() <= max_time && q_.run_next()) {
  }
  if (!done_ && !checker_->failed()) {
    if (q_.executed() >= max_events) {
      checker_->fail("event-limit", NodeId{}, "more than " + std::to_string(max_events) + " events: a message storm?");
    } else {
      checker_->fail("liveness", NodeId{}, "run ended without converging");
    }
  }

  RunResult r;
  if (auto& v = checker_->violation()) {
    r.pass = false;
    r.reason = v->reason;
    r.detail = v->detail;
    r.node = v->node;
    r.at = v->at;
  }
  for (auto& h : hosts_) {
    if (h->service) forwarded_ += h->service->stats().forwarded;
  }
  const NetworkStats& ns = net_->stats();
  const WorkloadStats& ws = workload_->stats();
  SimDiskStats ds;
  for (auto& h : hosts_) {
    const SimDiskStats& s = h->disk->stats();
    ds.torn_writes += s.torn_writes;
    ds.writes_lost += s.writes_lost;
    ds.sync_failures += s.sync_failures;
    ds.syncs += s.syncs;
    ds.names_reverted += s.names_reverted;
  }
  Coverage& c = r.coverage;
  c.add("elections", elections_);
  c.add("leaders", leaders_);
  c.add("crashes", crashes_);
  c.add("restarts", restarts_);
  c.add("fail_stops", fail_stops_);
  c.add("pauses", pauses_);
  c.add("partitions", partitions_);
  c.add("heals", heals_);
  c.add("clock_jumps", clock_jumps_);
  c.add("clogs", clogs_);
  c.add("msgs_sent", ns.sent);
  c.add("msgs_delivered", ns.delivered);
  c.add("msgs_dropped", ns.dropped_loss + ns.dropped_partition);
  c.add("msgs_duplicated", ns.duplicated);
  c.add("msgs_replayed", ns.replayed);
  c.add("msgs_reordered", ns.reordered);
  c.add("msgs_held", ns.held);
  c.add("syncs", ds.syncs);
  c.add("sync_failures", ds.sync_failures);
  c.add("writes_lost", ds.writes_lost);
  c.add("torn_writes", ds.torn_writes);
  c.add("torn_tails_recovered", recovered_torn_);
  c.add("terms_raised", terms_raised_);
  c.add("snapshots_taken", snapshots_taken_);
  c.add("snapshots_installed", snapshots_installed_);
  c.add("stickiness_checks", stickiness_checks_);
  c.add("lease_attacks", lease_attacks_);
  c.add("figure8_episodes", figure8_episodes_);
  c.add("figure8_completed", figure8_completed_);
  c.add("ongaro_episodes", ongaro_episodes_);
  c.add("ongaro_split", ongaro_split_);
  c.add("stale_episodes", stale_episodes_);
  c.add("stale_released", stale_released_);
  c.add("membership_changes", membership_changes_);
  c.add("joins_asked", joins_asked_);
  c.add("transfers", transfers_);
  c.add("wipes", wipes_);
  c.add("proposals", ws.proposals);
  c.add("acks", ws.acks);
  c.add("redirects", ws.redirects + (sql_runner_ ? sql_runner_->stats().redirects : 0));
  c.add("timeouts", ws.timeouts);
  c.add("definite_failures", ws.definite_failures);
  if (sql_runner_) {
    const wl::RunnerStats& ss = sql_runner_->stats();
    c.add("ops", ss.invoked);
    c.add("ops_ok", ss.ok);
    c.add("ops_failed", ss.failed);
    c.add("ops_unknown", ss.unknown);
    c.add("reads", ss.reads);
    c.add("attempts", ss.attempts);
    c.add("attempt_timeouts", ss.attempt_timeouts);
    c.add("attempt_unknown", ss.attempt_unknown);
    c.add("no_leader", ss.no_leader);
    c.add("forwarded", forwarded_);
  }
  r.trace = trace_.value();
  r.simulated = q_.now();
  r.events = q_.executed();
  return r;
}

RunResult run_seed(uint64_t seed, std::FILE* log, bool verbose) {
  Simulation sim(draw_options(seed), log, verbose);
  return sim.run();
}

}  // namespace rq::sim
