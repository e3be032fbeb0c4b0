// The client-facing service: rqlite's execute, query and request, with every read level, on top of
// one node (Node + SqliteMachine). Everything below HTTP parsing lives here, so the simulator runs
// it unchanged; the HTTP server is a thin adapter.
//   writes        proposed as one log entry (stamped with the leader's wall clock and a seed);
//                 done when the entry at (index, term) is applied; an entry of another term
//                 applied at that index means the write definitely failed; a timeout before
//                 either is an unknown outcome, reported as such.
//   level none    served from the local database; with `freshness`, a follower that has not heard
//                 from a leader for that long answers "stale read"; with `freshness_strict` as
//                 well, one that is behind the commit index answers it when its last applied
//                 entry was applied more than `freshness` after the leader stamped it.
//   level weak    the leader serves it locally while its lease holds; otherwise ReadIndex.
//   linearizable  ReadIndex: a heartbeat round confirms leadership, then the read waits until the
//                 state machine applied the confirmed index. A leader with no commit in its term
//                 sends the read through the log.
//   strong        through the log, like a write.
//   auto          none on a node that cannot vote (a read replica), weak elsewhere; on the unified
//                 endpoint (kRequest) rqlite does not resolve it: local, with no checks at all.
// A request that needs the leader and reaches a follower is forwarded to the leader over the
// transport (a cluster message inside the same envelope as Raft's, core/wire/forward.capnp),
// carrying its session, sequence number, what is left of its deadline and a hop count; the
// leader's answer comes back the same way. With `redirect` (or forwarding off, or too many hops)
// the answer is kNotLeader with the leader's id and address instead; with no leader known,
// rqlite's "leader not found". When the leader it went to is replaced, a forwarded read goes to
// the new leader and a forwarded write is answered kUnknown at once. When this node stops leading,
// what waits on its leadership is answered at once too, not at its deadline: a write whose entry
// may still commit elsewhere is kUnknown ("leadership lost while committing log", rqlite's
// words); a read awaiting the heartbeat round that would confirm it (and a strong read in the
// log) is submitted again, so it goes to the new leader or answers "leader not found".
// The same channel carries rqlite's join (join()), -bootstrap-expect's notices
// (expect_bootstrap(), notify()) and opaque calls between the layers above (call()).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/node.h"
#include "core/prng.h"
#include "core/service/read_level.h"
#include "core/sqlite/sqlite_machine.h"

namespace rq::svc {

struct Request {
  sql::CommandKind kind = sql::CommandKind::kExecute;
  std::vector<sql::Statement> statements;
  bool transaction = false;
  ReadLevel level = ReadLevel::kWeak;
  Duration freshness{0};  // level none: 0 means no limit
  bool freshness_strict = false;
  Duration timeout = std::chrono::seconds(10);
  uint64_t session = 0;  // exactly-once retries (0: none)
  uint64_t seq = 0;
  bool redirect = false;  // rqlite's `redirect`: answer with the leader instead of forwarding
  uint32_t hops = 0;      // times this request was forwarded already
  // Reads outside the log only (a write's execution must be the same on every replica):
  bool qualify_columns = false;  // column names as table.column
  Duration db_timeout{0};        // per statement: "query timeout" past it (0: none)
  // Writes: a failed statement rolls back a transaction the statements opened (rqlite's
  // RollbackOnError: /db/load with an SQL dump).
  bool rollback_on_error = false;
  sql::LoadChunk load;  // kind kLoad: one piece of an image (Service::load cuts them)
};

enum class Status : uint8_t {
  kOk,
  kNotLeader,  // ask the leader (`leader`, `leader_address`)
  kNoLeader,   // rqlite's "leader not found"
  kFailed,     // definitely not applied (its log position went to another entry)
  kUnknown,    // timed out: it may or may not have been applied
  kError,      // refused before replication (`error`: e.g. "disallowed pragma", "stale read")
};
const char* to_string(Status s);

struct Response {
  Status status = Status::kOk;
  sql::CommandResult result;
  LogIndex raft_index;  // writes and strong reads: where the entry went
  Term raft_term;
  NodeId leader;
  std::string leader_address;
  std::string error;
  // Served by another node (forwarded): that node's Raft address; "" when served here.
  std::string served_by;
};

using Done = std::function<void(Response)>;

// Where reads run. One thread owns Raft and the read-write connection; the driver decides where
// a read's SQL executes: inline in the simulator, on a pool of read-only connections in the
// server (so a long SELECT never stalls heartbeats). A read handed over after the state machine
// applied index i must see at least i; `done` must be called on the node's own thread.
class ReadExecutor {
 public:
  virtual ~ReadExecutor() = default;
  // Runs req.statements on the query side (req.transaction, req.qualify_columns, req.db_timeout).
  virtual void read(const Request& req, std::function<void(sql::CommandResult)> done) = 0;
};

// Runs reads at once, on the read-write connection.
class InlineReadExecutor final : public ReadExecutor {
 public:
  explicit InlineReadExecutor(sql::SqliteMachine& sm) : sm_(sm) {}
  void read(const Request& req, std::function<void(sql::CommandResult)> done) override {
    sql::RunOptions o;
    o.qualify_columns = req.qualify_columns;  // no stopwatch here: no timings, no timeout
    done(sm_.query(req.statements, req.transaction, o));
  }

 private:
  sql::SqliteMachine& sm_;
};

struct ServiceOptions {
  Duration tick_interval = std::chrono::milliseconds(100);  // the node's, for freshness
  bool forward = true;
  uint32_t max_hops = 3;
  // /db/load of a SQLite file goes through the log in pieces of this size (one entry each): no
  // entry, and no message carrying one, holds a whole image.
  size_t load_chunk_bytes = size_t{4} << 20;
  // Fault injection, for showing that the checkers catch it (never set outside tests): a
  // leader serves linearizable reads from its own database without confirming it still leads.
  bool unsafe_leader_reads = false;
};

struct ServiceStats {
  uint64_t forwarded = 0;         // requests sent on to the leader
  uint64_t forwards_served = 0;   // requests other nodes forwarded here
  uint64_t forward_timeouts = 0;  // forwarded requests whose answer never came
  uint64_t forwards_redirected = 0;  // forwarded reads sent again after the leader changed
  uint64_t forwards_abandoned = 0;   // forwarded writes answered "unknown" when it changed
  // By kind (sql::CommandKind: execute, query, request, load): requests sent on to the leader,
  // those of them answered by a timeout or a lost leadership, and requests other nodes
  // forwarded here.
  uint64_t forwarded_by_kind[4] = {0, 0, 0, 0};
  uint64_t forwards_failed_by_kind[4] = {0, 0, 0, 0};
  uint64_t forwards_served_by_kind[4] = {0, 0, 0, 0};
  // Leadership checks for reads (ReadIndex): heartbeat rounds that confirmed one, and reads whose
  // check was lost with the leadership or timed out waiting for it.
  uint64_t leader_verified = 0;
  uint64_t leader_verify_failed = 0;
  uint64_t proposed = 0;             // commands this node proposed as leader
  uint64_t writes_abandoned = 0;     // writes answered "unknown" when this node stopped leading
  uint64_t reads_resubmitted = 0;    // reads submitted again when this node stopped leading
  uint64_t rejected = 0;          // malformed cluster messages
  uint64_t joins_served = 0;      // join requests other nodes sent here
  uint64_t notifies_served = 0;   // bootstrap notices other nodes sent here
  uint64_t calls = 0;             // calls made to other nodes
  uint64_t calls_served = 0;      // calls other nodes made here
  uint64_t call_timeouts = 0;     // calls whose answer never came
};

class Service {
 public:
  // Wires itself to the node (read states, cluster messages) and the state machine (results).
  // `reads` runs reads (nullptr: inline).
  Service(Node& node, sql::SqliteMachine& sm, Clock& clock, Prng prng, ServiceOptions opts,
          ReadExecutor* reads = nullptr);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Answers exactly once through `done` (now or later); `done` must not call back into the
  // service synchronously.
  void submit(Request req, Done done);

  // rqlite's LOAD (/db/load with a SQLite file): replaces the database on every replica. The image
  // goes through the log in pieces (CommandKind::kLoad), each proposed (or forwarded to the
  // leader) once the one before it is applied, each with `timeout`; the first failure ends the
  // load. `done` gets the last piece's result: an empty CommandResult, or its `error` when the
  // state machine refused the image. One load at a time on a node: another is refused with
  // "load in progress", as are loads while writes are paused.
  void load(std::string image, Duration timeout, bool redirect, Done done);

  // rqlite's /boot swaps the database outside the log; the server makes that safe with these.
  // pause_writes(): from now on whatever would go through the log (writes, strong reads, loads)
  // is refused with "load in progress", and an empty command (a barrier) is proposed; `done` is
  // answered once it is applied, so everything proposed before the pause is applied too.
  // barrier(): one more such empty command through the pause. resume_writes() ends the pause.
  void pause_writes(Duration timeout, Done done);
  void barrier(Duration timeout, Done done);
  void resume_writes() { paused_ = false; }
  bool writes_paused() const { return paused_; }

  // rqlite's join, asked of the node `contact` over the cluster channel: it adds this node as
  // (voter or not) `address`, or says who leads. `done` gets the answering node's result —
  // kProposed / kAlready (done: the leader will bring this node up to date), kNotLeader with the
  // leader and its address (ask it next), kRetry, kInvalid — or kRetry with "timeout" when no
  // answer came within `timeout`. The caller (the server's joiner) decides whom to ask and when.
  using JoinDone = std::function<void(const MembershipResult&)>;
  // `name`: this node's rqlite node id, kept in the membership.
  void join(NodeId contact, const std::string& address, bool voter, Duration timeout,
            JoinDone done, const std::string& name = {});

  // rqlite's -bootstrap-expect: this node founds a cluster once `expect` distinct voters
  // (itself, `self`, included) have notified it, with exactly those as its members, provided it
  // is still blank; the others do the same with the same set, or learn of the leader first.
  // notify() tells node `contact` about this node (`self`); fire and forget, repeated by the
  // caller until a leader is known.
  void expect_bootstrap(size_t expect, const raft::Member& self);
  void notify(NodeId contact, const raft::Member& self);
  size_t notifiers() const { return notifiers_.size(); }
  bool bootstrapped() const { return bootstrapped_; }

  // A call to the layer above the service on another node (rqlited: node metadata, API requests
  // only the leader can serve, backup chunks): `payload` is opaque here. `done` gets the other
  // node's answer, or kTimeout when none came within `timeout` (the node may have acted anyway).
  using CallDone = std::function<void(Result<std::string>)>;
  void call(NodeId to, std::string payload, Duration timeout, CallDone done);
  // Who answers calls here: `reply` must be called at most once, now or later, on the node's
  // thread (it does nothing once the service is gone). Without a handler calls go unanswered.
  using CallReplyFn = std::function<void(std::string payload)>;
  using CallHandler = std::function<void(NodeId from, std::string payload, CallReplyFn reply)>;
  void set_call_handler(CallHandler h) { call_handler_ = std::move(h); }

  size_t pending() const {
    return writes_.size() + reads_.size() + forwards_.size() + calls_.size();
  }
  const ServiceStats& stats() const { return stats_; }

 private:
  struct Write {
    Term term;
    Done done;
    TimerId timer;
    Duration deadline{0};
    std::optional<Request> read;  // a strong read: submitted again if leadership is lost
  };
  struct Read {
    Request req;
    Done done;
    TimerId timer;
    Duration deadline{0};
  };

  struct Forward {
    Done done;
    TimerId timer;
    size_t kind = 0;  // sql::CommandKind, for the counters
    std::string to;  // the Raft address it went to (Response::served_by)
    NodeId leader;   // the node it went to
    Duration deadline{0};
    std::optional<Request> read;  // a read, kept to be sent again to the next leader
  };
  void on_leader(NodeId lead);
  // What waited on this node's leadership, once it lost it (or started a new term).
  void on_leadership_lost();

  struct LoadJob;
  void propose(const Request& req, Done done);
  void propose_now(const Request& req, Done done);
  void load_next_piece(std::shared_ptr<LoadJob> job);
  // Sends the request on to the leader, or answers with where the leader is.
  void to_leader(const Request& req, Done done);
  void on_cluster(std::string_view payload);
  void read_local(const Request& req, const Done& done);
  void read_index(Request req, Done done);
  void on_read_state(const raft::ReadState& rs);
  void on_result(const raft::Entry& e, const sql::CommandResult& r);
  // Reads waiting for leadership to be confirmed or for the state machine to catch up, each
  // with its timeout.
  uint64_t add_read(Request req, Done done);
  Read take_read(uint64_t ctx);
  void serve_when_applied(uint64_t ctx, LogIndex index);
  bool all_reads(const Request& req);
  Response not_leader() const;

  Node& node_;
  sql::SqliteMachine& sm_;
  InlineReadExecutor inline_reads_;
  ReadExecutor& reads_exec_;
  Clock& clock_;
  Prng prng_;
  ServiceOptions opts_;
  std::map<uint64_t, Write> writes_;               // log index -> waiting write (or strong read)
  std::map<uint64_t, Read> reads_;                 // context -> waiting read
  std::multimap<uint64_t, uint64_t> apply_waits_;  // applied index wanted -> context
  std::map<uint64_t, Term> confirming_;            // context -> term of the ReadIndex it awaits
  std::map<uint64_t, Forward> forwards_;           // forward id -> the waiting client
  // A request to another node whose answer is awaited, with the timer that gives up on it.
  template <class Fn>
  struct Waiting {
    Fn done;
    TimerId timer = 0;
  };
  // Registers `done` under a new id; on_timeout(done) runs if no answer took it by `timeout`.
  template <class Fn, class OnTimeout>
  uint64_t await_answer(std::map<uint64_t, Waiting<Fn>>& waiting, Fn done, Duration timeout,
                        OnTimeout on_timeout) {
    const uint64_t id = next_forward_++;
    std::weak_ptr<int> alive = alive_;
    const TimerId timer = clock_.schedule(timeout, [this, alive, &waiting, id, on_timeout] {
      if (alive.expired()) return;
      if (auto d = take_answer(waiting, id)) on_timeout(*d);
    });
    waiting[id] = Waiting<Fn>{std::move(done), timer};
    return id;
  }
  // The waiter for answer `id`, its timer cancelled; nullopt when it gave up already (or the
  // answer is a duplicate).
  template <class Fn>
  std::optional<Fn> take_answer(std::map<uint64_t, Waiting<Fn>>& waiting, uint64_t id) {
    auto it = waiting.find(id);
    if (it == waiting.end()) return std::nullopt;
    Fn done = std::move(it->second.done);
    clock_.cancel(it->second.timer);
    waiting.erase(it);
    return done;
  }
  std::map<uint64_t, Waiting<JoinDone>> joins_;  // join request id -> the waiting joiner
  std::map<uint64_t, Waiting<CallDone>> calls_;  // call id -> the waiting caller
  CallHandler call_handler_;
  size_t bootstrap_expect_ = 0;                    // 0: not bootstrapping
  std::map<NodeId, raft::Member> notifiers_;       // who notified (self included)
  bool bootstrapped_ = false;
  void maybe_bootstrap();
  int64_t last_apply_wall_ns_ = 0;     // when this node last applied a command (freshness_strict)
  bool paused_ = false;                // pause_writes() .. resume_writes()
  bool loading_ = false;               // a load() is under way
  uint64_t next_context_ = 1;
  uint64_t next_forward_ = 1;  // random start (see the constructor)
  ServiceStats stats_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace rq::svc
