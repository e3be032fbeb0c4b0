#include "core/service/service.h"

#include <algorithm>
#include <utility>

#include "core/assert.h"

#include "core/service/forward_codec.h"
#include "core/sqlite/command_codec.h"

namespace rq::svc {

const char* to_string(ReadLevel l) {
  switch (l) {
    case ReadLevel::kNone:
      return "none";
    case ReadLevel::kWeak:
      return "weak";
    case ReadLevel::kLinearizable:
      return "linearizable";
    case ReadLevel::kStrong:
      return "strong";
    case ReadLevel::kAuto:
      return "auto";
  }
  return "?";
}

std::optional<ReadLevel> read_level_from_name(std::string_view s) {
  for (auto l : {ReadLevel::kNone, ReadLevel::kWeak, ReadLevel::kLinearizable, ReadLevel::kStrong,
                 ReadLevel::kAuto}) {
    if (s == to_string(l)) return l;
  }
  return std::nullopt;
}

const char* to_string(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kNotLeader:
      return "not leader";
    case Status::kNoLeader:
      return "leader not found";
    case Status::kFailed:
      return "failed";
    case Status::kUnknown:
      return "unknown";
    case Status::kError:
      return "error";
  }
  return "?";
}

Service::Service(Node& node, sql::SqliteMachine& sm, Clock& clock, Prng prng, ServiceOptions opts,
                 ReadExecutor* reads)
    : node_(node),
      sm_(sm),
      inline_reads_(sm),
      reads_exec_(reads != nullptr ? *reads : inline_reads_),
      clock_(clock),
      prng_(prng),
      opts_(opts) {
  // Forward ids must not repeat across restarts: the network may still carry replies to the
  // previous incarnation's forwards, which would otherwise answer this one's.
  next_forward_ = prng_.next_u64() >> 1;
  node_.set_read_state_sink([this](const raft::ReadState& rs) { on_read_state(rs); });
  node_.set_cluster_sink([this](std::string_view payload) { on_cluster(payload); });
  node_.set_leader_sink([this, alive = std::weak_ptr<int>(alive_)](NodeId lead) {
    // Not from inside the node's processing loop: answering may submit again.
    clock_.schedule(Duration{0}, [this, alive, lead] {
      if (!alive.expired()) on_leader(lead);
    });
  });
  sm_.set_result_sink(
      [this](const raft::Entry& e, const sql::CommandResult& r) { on_result(e, r); });
}

Service::~Service() {
  node_.set_read_state_sink({});
  node_.set_cluster_sink({});
  node_.set_leader_sink({});
  sm_.set_result_sink({});
  for (auto& [i, f] : forwards_) clock_.cancel(f.timer);
  for (auto& [i, j] : joins_) clock_.cancel(j.timer);
  for (auto& [i, k] : calls_) clock_.cancel(k.timer);
  for (auto& [i, w] : writes_) clock_.cancel(w.timer);
  for (auto& [c, r] : reads_) clock_.cancel(r.timer);
}

Response Service::not_leader() const {
  Response r;
  r.leader = node_.running() ? node_.raft().lead() : kNoNode;
  if (!r.leader.valid()) {
    r.status = Status::kNoLeader;
    r.error = "leader not found";
    return r;
  }
  r.status = Status::kNotLeader;
  if (const raft::Member* m = node_.raft().membership().find(r.leader))
    r.leader_address = m->address;
  return r;
}

bool Service::all_reads(const Request& req) {
  for (const auto& s : req.statements) {
    if (sm_.is_write(s.sql)) return false;
  }
  return true;
}

void Service::submit(Request req, Done done) {
  for (const auto& s : req.statements) {
    if (sql::is_disallowed_pragma(s.sql)) {
      Response r;
      r.status = Status::kError;
      r.error = "disallowed pragma";
      done(std::move(r));
      return;
    }
  }
  if (!node_.running()) {
    done(not_leader());
    return;
  }
  const bool reads = req.kind == sql::CommandKind::kQuery ||
                     (req.kind == sql::CommandKind::kRequest && all_reads(req));
  if (!reads || req.level == ReadLevel::kStrong) {
    propose(req, std::move(done));
    return;
  }
  ReadLevel level = req.level;
  if (level == ReadLevel::kAuto && req.kind == sql::CommandKind::kRequest) {
    // rqlite's /db/request leaves auto unresolved: served here, unchecked.
    read_local(req, done);
    return;
  }
  if (level == ReadLevel::kAuto) {
    level = node_.raft().membership().is_voter(node_.id()) ? ReadLevel::kWeak : ReadLevel::kNone;
  }
  const bool leader = node_.raft().role() == raft::Role::kLeader;
  switch (level) {
    case ReadLevel::kNone:
      if (req.freshness.count() > 0 && !leader) {
        const Duration since = opts_.tick_interval * node_.raft().ticks_since_leader_contact();
        const raft::RaftLog& log = node_.raft().log();
        const bool lagging = sm_.last_applied() < log.committed().v;
        const bool stale_apply =
            req.freshness_strict && lagging && last_apply_wall_ns_ != 0 &&
            last_apply_wall_ns_ - sm_.last_applied_timestamp_ns() > req.freshness.count();
        if (!node_.raft().lead().valid() || since > req.freshness || stale_apply) {
          Response r;
          r.status = Status::kError;
          r.error = "stale read";
          done(std::move(r));
          return;
        }
      }
      read_local(req, done);
      return;
    case ReadLevel::kWeak:
      if (!leader) {
        to_leader(req, std::move(done));
        return;
      }
      // The lease is judged on the time that really passed, paused process or not.
      node_.catch_up_ticks();
      if (node_.running() && node_.raft().lease_valid()) {
        // No other leader can exist yet, but this one may not have applied all it committed,
        // and before its first commit in its term it does not know the cluster's commit index.
        const raft::RaftLog& log = node_.raft().log();
        if (log.term(log.committed()) == node_.raft().term()) {
          const uint64_t ctx = add_read(std::move(req), std::move(done));
          serve_when_applied(ctx, log.committed());
          return;
        }
      }
      read_index(std::move(req), std::move(done));
      return;
    default:
      if (opts_.unsafe_leader_reads && leader) {
        read_local(req, done);
        return;
      }
      read_index(std::move(req), std::move(done));
      return;
  }
}

void Service::to_leader(const Request& req, Done done) {
  Response nl = not_leader();
  if (nl.status != Status::kNotLeader || nl.leader == node_.id() || req.redirect ||
      !opts_.forward || req.hops >= opts_.max_hops) {
    done(std::move(nl));
    return;
  }
  const uint64_t id = next_forward_++;
  std::weak_ptr<int> alive = alive_;
  const TimerId timer = clock_.schedule(req.timeout, [this, alive, id] {
    if (alive.expired()) return;
    auto it = forwards_.find(id);
    if (it == forwards_.end()) return;
    Done d = std::move(it->second.done);
    ++stats_.forwards_failed_by_kind[it->second.kind];
    forwards_.erase(it);
    ++stats_.forward_timeouts;
    Response resp;
    resp.status = Status::kUnknown;
    resp.error = "timeout";
    d(std::move(resp));
  });
  const size_t kind = std::min<size_t>(static_cast<size_t>(req.kind), 3);
  Forward fw{std::move(done), timer, kind, nl.leader_address, nl.leader, clock_.now() + req.timeout,
             std::nullopt};
  ++stats_.forwarded_by_kind[kind];
  // Reads outside the log only: a strong read is an entry, and a query endpoint's statements are
  // not checked for writes here (a SELECT on a table this node has not seen yet looks like one).
  const bool read = req.kind == sql::CommandKind::kQuery ||
                    (req.kind == sql::CommandKind::kRequest && all_reads(req));
  if (read && req.level != ReadLevel::kStrong) fw.read = req;
  forwards_[id] = std::move(fw);
  Forwarded f{id, node_.id(), req};
  f.req.hops = req.hops + 1;
  // The leader gives up a little earlier, so its answer (unknown, at worst) can get back here.
  f.req.timeout = req.timeout * 9 / 10;
  ++stats_.forwarded;
  node_.send_cluster(nl.leader, encode_forward(f));
}

void Service::on_cluster(std::string_view payload) {
  auto m = decode_cluster_message(payload);
  if (!m) {
    ++stats_.rejected;
    return;
  }
  if (auto* f = std::get_if<Forwarded>(&*m)) {
    ++stats_.forwards_served;
    ++stats_.forwards_served_by_kind[std::min<size_t>(static_cast<size_t>(f->req.kind), 3)];
    std::weak_ptr<int> alive = alive_;
    const NodeId origin = f->origin;
    const uint64_t id = f->id;
    submit(std::move(f->req), [this, alive, origin, id](Response r) {
      if (alive.expired()) return;
      node_.send_cluster(origin, encode_forward_reply(ForwardedReply{id, std::move(r)}));
    });
    return;
  }
  if (auto* j = std::get_if<JoinAsk>(&*m)) {
    ++stats_.joins_served;
    // The joiner is not a member yet: tell the transport where the answer goes.
    node_.learn_address(j->node, j->address);
    MembershipResult r = node_.join(j->node, j->address, j->voter, j->incarnation, j->name);
    if (r.status == MembershipResult::Status::kNotLeader && r.leader_address.empty() &&
        r.leader.valid()) {
      for (const auto& mem : node_.raft().membership().members()) {
        if (mem.id == r.leader) r.leader_address = mem.address;
      }
    }
    node_.send_cluster(j->node, encode_join_answer(JoinAnswer{j->id, std::move(r)}));
    return;
  }
  if (auto* a = std::get_if<JoinAnswer>(&*m)) {
    auto done = take_answer(joins_, a->id);
    if (!done) return;  // timed out already, or a duplicate
    if (a->result.leader.valid() && !a->result.leader_address.empty()) {
      node_.learn_address(a->result.leader, a->result.leader_address);
    }
    (*done)(a->result);
    return;
  }
  if (auto* c = std::get_if<CallAsk>(&*m)) {
    ++stats_.calls_served;
    if (!call_handler_) return;
    std::weak_ptr<int> alive = alive_;
    const NodeId origin = c->origin;
    const uint64_t id = c->id;
    call_handler_(origin, std::move(c->payload),
                  [this, alive, origin, id, sent = false](std::string payload) mutable {
                    if (alive.expired() || sent) return;
                    sent = true;
                    node_.send_cluster(origin, encode_call_answer(CallAnswer{id, std::move(payload)}));
                  });
    return;
  }
  if (auto* n = std::get_if<Notice>(&*m)) {
    ++stats_.notifies_served;
    node_.learn_address(n->node, n->address);
    raft::Member mem;
    mem.id = n->node;
    mem.address = n->address;
    mem.voter = true;
    mem.incarnation = n->incarnation;
    mem.name = n->name;
    // Only nodes that were never in a cluster count as founders: a member of an existing
    // cluster that has not found its leader yet must not make this node found another.
    if (!n->blank) {
      notifiers_.erase(n->node);
      // A founder tells a late founder what it founded: the same entry at (1, term 1) lets it
      // vote (a node without a config does not), as if a leader had sent it.
      if (!n->founders.empty() && bootstrap_expect_ > 0 && node_.blank()) {
        auto founding = raft::Membership::decode(n->founders);
        if (founding && founding->is_self(node_.id(), node_.incarnation()) &&
            founding->is_voter(node_.id())) {
          bootstrapped_ = node_.bootstrap(*founding);
          bootstrap_expect_ = 0;
        }
      }
      return;
    }
    if (notifiers_.size() < 1024 || notifiers_.count(n->node) > 0) notifiers_[n->node] = mem;
    maybe_bootstrap();
    // A blank founder asks; a founder (no longer blank) answers with what it founded, if it
    // founded by bootstrap and the asker is one of those founders.
    if (!node_.blank()) {
      if (auto founding = node_.founding_membership();
          founding && founding->is_self(n->node, n->incarnation)) {
        Notice answer;
        answer.node = node_.id();
        if (const raft::Member* self = node_.raft().membership().find(node_.id()))
          answer.address = self->address;
        if (answer.address.empty()) answer.address = "?";
        answer.incarnation = node_.incarnation();
        answer.blank = false;
        answer.founders = founding->encode();
        node_.send_cluster(n->node, encode_notify(answer));
      }
    }
    return;
  }
  if (auto* a = std::get_if<CallAnswer>(&*m)) {
    if (auto done = take_answer(calls_, a->id)) (*done)(std::move(a->payload));
    return;  // otherwise timed out already, or a duplicate
  }
  auto& reply = std::get<ForwardedReply>(*m);
  auto it = forwards_.find(reply.id);
  if (it == forwards_.end()) return;  // timed out already, or a duplicate
  Forward fw = std::move(it->second);
  forwards_.erase(it);
  clock_.cancel(fw.timer);
  if (reply.resp.served_by.empty()) reply.resp.served_by = fw.to;
  fw.done(std::move(reply.resp));
}

// The node a request was forwarded to no longer leads, as far as this node can tell (it died, or
// lost an election): its answer may never come. A read goes to the new leader (reads change
// nothing, so sending one twice is harmless); a write's outcome is unknown and says so now,
// rather than at its deadline, so the client can decide (rqlite answers with the broken
// connection's error).
void Service::on_leader(NodeId lead) {
  on_leadership_lost();
  // An election under way: wait for its outcome (or the requests' deadlines).
  if (!lead.valid()) return;
  std::vector<std::pair<uint64_t, Forward>> moved;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (it->second.leader != lead) {
      moved.emplace_back(it->first, std::move(it->second));
      it = forwards_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [id, fw] : moved) {
    clock_.cancel(fw.timer);
    if (fw.read) {
      Request req = std::move(*fw.read);
      req.timeout = std::max(fw.deadline - clock_.now(), Duration{1});
      ++stats_.forwards_redirected;
      submit(std::move(req), std::move(fw.done));
      continue;
    }
    ++stats_.forwards_abandoned;
    ++stats_.forwards_failed_by_kind[fw.kind];
    Response r;
    r.status = Status::kUnknown;
    r.error = "leadership lost while committing log";
    fw.done(std::move(r));
  }
}

void Service::on_leadership_lost() {
  const bool leading = node_.running() && node_.raft().role() == raft::Role::kLeader;
  const Term term = node_.running() ? node_.raft().term() : Term{};
  // Raft forgets the reads of a leadership it lost (or of the term it left): they would only
  // time out.
  std::vector<uint64_t> lost_reads;
  for (const auto& [ctx, t] : confirming_) {
    if (!leading || t != term) lost_reads.push_back(ctx);
  }
  std::vector<std::pair<Request, Done>> again;
  for (uint64_t ctx : lost_reads) {
    confirming_.erase(ctx);
    ++stats_.leader_verify_failed;
    if (reads_.count(ctx) == 0) continue;
    Read r = take_read(ctx);
    r.req.timeout = std::max(r.deadline - clock_.now(), Duration{1});
    again.emplace_back(std::move(r.req), std::move(r.done));
  }
  if (!leading && !writes_.empty()) {
    // The entries may still commit under the next leader (or be replaced): unknown, now.
    std::map<uint64_t, Write> lost;
    lost.swap(writes_);
    for (auto& [index, w] : lost) {
      clock_.cancel(w.timer);
      // The message that deposed us may have replaced the entry already: then it failed.
      const std::optional<Term> now_there = node_.running() ? node_.raft().log().term(LogIndex(index)) : std::nullopt;
      if (now_there && *now_there != w.term && !w.read) {
        Response r;
        r.status = Status::kFailed;
        r.error = "leadership changed before the write committed";
        w.done(std::move(r));
        continue;
      }
      if (w.read) {
        Request req = std::move(*w.read);
        req.timeout = std::max(w.deadline - clock_.now(), Duration{1});
        again.emplace_back(std::move(req), std::move(w.done));
        continue;
      }
      ++stats_.writes_abandoned;
      Response r;
      r.status = Status::kUnknown;
      r.error = "leadership lost while committing log";
      w.done(std::move(r));
    }
  }
  for (auto& [req, done] : again) {
    ++stats_.reads_resubmitted;
    submit(std::move(req), std::move(done));
  }
}

void Service::call(NodeId to, std::string payload, Duration timeout, CallDone done) {
  const uint64_t id = await_answer(calls_, std::move(done), timeout, [this](CallDone& d) {
    ++stats_.call_timeouts;
    d(make_error(ErrorCode::kTimeout, "timeout"));
  });
  ++stats_.calls;
  node_.send_cluster(to, encode_call(CallAsk{id, node_.id(), std::move(payload)}));
}

void Service::expect_bootstrap(size_t expect, const raft::Member& self) {
  bootstrap_expect_ = expect;
  notifiers_[self.id] = self;
  maybe_bootstrap();
}

void Service::notify(NodeId contact, const raft::Member& self) {
  node_.send_cluster(contact,
                     encode_notify(Notice{self.id, self.address, self.name, self.incarnation,
                                          node_.blank()}));
}

void Service::maybe_bootstrap() {
  if (bootstrap_expect_ == 0 || bootstrapped_ || notifiers_.size() < bootstrap_expect_) return;
  if (!node_.blank()) {
    bootstrap_expect_ = 0;  // another founder's cluster reached this node first
    return;
  }
  std::vector<raft::Member> members;
  for (const auto& [id, m] : notifiers_) members.push_back(m);
  bootstrapped_ = node_.bootstrap(raft::Membership(std::move(members)));
  bootstrap_expect_ = 0;
}

void Service::join(NodeId contact, const std::string& address, bool voter, Duration timeout,
                   JoinDone done, const std::string& name) {
  const uint64_t id = await_answer(joins_, std::move(done), timeout, [](JoinDone& d) {
    MembershipResult r;
    r.status = MembershipResult::Status::kRetry;
    r.error = "timeout";
    d(r);
  });
  node_.send_cluster(contact,
                     encode_join(JoinAsk{id, node_.id(), address, voter, node_.incarnation(), name}));
}

void Service::propose(const Request& req, Done done) {
  if (paused_) {
    Response r;
    r.status = Status::kError;
    r.error = "load in progress";
    done(std::move(r));
    return;
  }
  propose_now(req, std::move(done));
}

void Service::propose_now(const Request& req, Done done) {
  if (node_.raft().role() != raft::Role::kLeader) {
    to_leader(req, std::move(done));
    return;
  }
  sql::Command c;
  c.kind = req.kind;
  c.transaction = req.transaction;
  c.statements = req.statements;
  c.timestamp_ns = clock_.wall_unix_ns();
  c.seed = prng_.next_u64();
  c.session = req.session;
  c.seq = req.seq;
  c.rollback_on_error = req.rollback_on_error;
  if (req.kind == sql::CommandKind::kLoad) c.load = req.load;
  std::weak_ptr<int> alive = alive_;
  raft::ProposeResult p = node_.propose(sql::encode_command(c), [&](const raft::ProposeResult& r) {
    if (r.status != raft::ProposeStatus::kOk) return;
    // Waiting starts before the entry can possibly be applied (a lone voter commits at once).
    const uint64_t index = r.index.v;
    const TimerId timer = clock_.schedule(req.timeout, [this, alive, index] {
      if (alive.expired()) return;
      auto it = writes_.find(index);
      if (it == writes_.end()) return;
      Done d = std::move(it->second.done);
      writes_.erase(it);
      Response resp;
      resp.status = Status::kUnknown;
      resp.error = "timeout";
      d(std::move(resp));
    });
    Write w{r.term, std::move(done), timer, clock_.now() + req.timeout, std::nullopt};
    const bool query = req.kind == sql::CommandKind::kQuery ||
                       (req.kind == sql::CommandKind::kRequest && !req.statements.empty() && all_reads(req));
    if (query && req.level == ReadLevel::kStrong) w.read = req;
    writes_[index] = std::move(w);
  });
  switch (p.status) {
    case raft::ProposeStatus::kOk:
      ++stats_.proposed;
      return;
    case raft::ProposeStatus::kNotLeader:
      to_leader(req, std::move(done));
      return;
    default: {
      Response r;
      r.status = Status::kError;
      r.error = "leadership transfer in progress or too many writes pending";
      done(std::move(r));
      return;
    }
  }
}

struct Service::LoadJob {
  std::string image;
  uint64_t id = 0;
  uint64_t offset = 0;
  Duration timeout{0};
  bool redirect = false;
  Done done;
};

void Service::load(std::string image, Duration timeout, bool redirect, Done done) {
  if (loading_ || paused_ || image.empty()) {
    Response r;
    r.status = Status::kError;
    r.error = image.empty() ? "load: empty image" : "load in progress";
    done(std::move(r));
    return;
  }
  loading_ = true;
  auto job = std::make_shared<LoadJob>();
  job->image = std::move(image);
  job->id = prng_.next_u64();
  job->timeout = timeout;
  job->redirect = redirect;
  job->done = std::move(done);
  load_next_piece(std::move(job));
}

void Service::load_next_piece(std::shared_ptr<LoadJob> job) {
  const uint64_t total = job->image.size();
  const uint64_t n = std::min<uint64_t>(opts_.load_chunk_bytes, total - job->offset);
  Request req;
  req.kind = sql::CommandKind::kLoad;
  req.timeout = job->timeout;
  req.redirect = job->redirect;
  req.load = sql::LoadChunk{job->id, job->offset, total, job->image.substr(job->offset, n)};
  std::weak_ptr<int> alive = alive_;
  submit(std::move(req), [this, alive, job, n, total](Response resp) {
    if (alive.expired()) return;
    const bool last = job->offset + n == total;
    if (resp.status != Status::kOk || !resp.result.error.empty() || last) {
      loading_ = false;
      Done d = std::move(job->done);
      d(std::move(resp));
      return;
    }
    job->offset += n;
    // Answers arrive while the node applies entries: the next piece is proposed afterwards.
    clock_.schedule(Duration{0}, [this, alive, job] {
      if (!alive.expired()) load_next_piece(job);
    });
  });
}

void Service::pause_writes(Duration timeout, Done done) {
  paused_ = true;
  barrier(timeout, std::move(done));
}

void Service::barrier(Duration timeout, Done done) {
  if (!node_.running() || node_.raft().role() != raft::Role::kLeader) {
    done(not_leader());
    return;
  }
  Request req;
  req.kind = sql::CommandKind::kExecute;
  req.timeout = timeout;
  propose_now(req, std::move(done));
}

void Service::read_local(const Request& req, const Done& done) {
  reads_exec_.read(req, [done](sql::CommandResult result) {
    Response r;
    r.result = std::move(result);
    done(std::move(r));
  });
}

uint64_t Service::add_read(Request req, Done done) {
  const uint64_t ctx = next_context_++;
  std::weak_ptr<int> alive = alive_;
  const TimerId timer = clock_.schedule(req.timeout, [this, alive, ctx] {
    if (alive.expired()) return;
    auto it = reads_.find(ctx);
    if (it == reads_.end()) return;
    Done d = std::move(it->second.done);
    reads_.erase(it);  // its apply_waits_ entry, if any, is skipped when reached
    if (confirming_.erase(ctx) != 0) ++stats_.leader_verify_failed;
    Response resp;
    resp.status = Status::kUnknown;
    resp.error = "timeout";
    d(std::move(resp));
  });
  const Duration deadline = clock_.now() + req.timeout;
  reads_[ctx] = Read{std::move(req), std::move(done), timer, deadline};
  return ctx;
}

Service::Read Service::take_read(uint64_t ctx) {
  auto it = reads_.find(ctx);
  RQ_ASSERT(it != reads_.end());
  Read r = std::move(it->second);
  reads_.erase(it);
  clock_.cancel(r.timer);
  return r;
}

void Service::read_index(Request req, Done done) {
  // Registered first: a lone voter confirms the read inside read_index().
  const uint64_t ctx = add_read(std::move(req), std::move(done));
  const raft::ReadIndexStatus st = node_.read_index(ctx);
  if (st == raft::ReadIndexStatus::kPending) {
    if (reads_.count(ctx) != 0) confirming_[ctx] = node_.raft().term();
    return;
  }
  Read r = take_read(ctx);
  if (st == raft::ReadIndexStatus::kNotLeader) {
    to_leader(r.req, std::move(r.done));
    return;
  }
  // kNoCommitInTerm: a new leader's first reads go through the log.
  r.req.level = ReadLevel::kStrong;
  propose(r.req, std::move(r.done));
}

void Service::on_read_state(const raft::ReadState& rs) {
  if (confirming_.erase(rs.context) != 0) ++stats_.leader_verified;
  if (reads_.count(rs.context) == 0) return;  // timed out meanwhile
  serve_when_applied(rs.context, rs.index);
}

void Service::serve_when_applied(uint64_t ctx, LogIndex index) {
  if (sm_.last_applied() >= index.v) {
    Read r = take_read(ctx);
    read_local(r.req, r.done);
    return;
  }
  apply_waits_.emplace(index.v, ctx);
}

void Service::on_result(const raft::Entry& e, const sql::CommandResult& result) {
  if (e.type == raft::EntryType::kNormal) last_apply_wall_ns_ = clock_.wall_unix_ns();
  // Writes whose positions a snapshot skipped: they were applied or replaced, we cannot tell.
  while (!writes_.empty() && writes_.begin()->first < e.index.v) {
    Write w = std::move(writes_.begin()->second);
    writes_.erase(writes_.begin());
    clock_.cancel(w.timer);
    Response r;
    r.status = Status::kUnknown;
    r.error = "outcome unknown";
    w.done(std::move(r));
  }
  if (auto it = writes_.find(e.index.v); it != writes_.end()) {
    Write w = std::move(it->second);
    writes_.erase(it);
    clock_.cancel(w.timer);
    Response r;
    if (e.term == w.term) {
      r.status = Status::kOk;
      r.result = result;
      r.raft_index = e.index;
      r.raft_term = e.term;
    } else {
      // Another entry took this index: ours can never commit (Log Matching).
      r.status = Status::kFailed;
      r.error = "leadership changed before the write committed";
    }
    w.done(std::move(r));
  }
  while (!apply_waits_.empty() && apply_waits_.begin()->first <= sm_.last_applied()) {
    const uint64_t ctx = apply_waits_.begin()->second;
    apply_waits_.erase(apply_waits_.begin());
    if (reads_.count(ctx) == 0) continue;  // timed out
    Read r = take_read(ctx);
    read_local(r.req, r.done);
  }
}

}  // namespace rq::svc
