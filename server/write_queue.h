// Queued writes: rqlite's /db/execute?queue (rqlite-compat.md §1.9, §4.13). A request is
// acknowledged with a sequence number as soon as it is in this node's memory; batches of queued
// statements then go through the client service as ONE execute each (one log entry, one fsync).
//   sequence numbers  start at the node's start time in Unix ns, +1 per queued request (the
//                     first one is start + 1, as rqlite's)
//   bounded           at most `capacity` requests (and `max_queued_bytes` of SQL and parameters)
//                     wait; a caller that finds the queue full waits (bounded in time, FIFO) for
//                     room, and at most `max_blocked` callers wait
//   batches           up to `batch_size` statements and `max_batch_bytes` (a request is never
//                     split: one larger than that goes alone), or whatever waited
//                     `batch_timeout`; one batch in flight at a time
//   retries           a batch that did not get through (no leader, lost leadership, timeout) is
//                     sent again every `retry_delay` until it does. Statement errors are not
//                     failures: they are counted and logged, nobody else sees them (as rqlite)
//   exactly once      every batch carries this queue's session id and its own sequence number,
//                     the same on every retry, so a retry after an unknown outcome (a timeout
//                     whose entry committed anyway) is answered from the state machine's session
//                     table instead of being applied twice
//   wait              wait_written() answers once the batch holding a sequence number was
//                     written (an empty request is a barrier: it is written with its batch)
// Everything runs on the io_context's thread; timers come from the node's Clock. What is queued
// lives in memory only: a crash or a shutdown loses it (as rqlite: the acknowledgement is not a
// commit).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "core/service/service.h"
#include "core/sqlite/types.h"

namespace rq::server {

struct WriteQueueOptions {
  // rqlite's defaults for -write-queue-capacity, -write-queue-batch-size, -write-queue-timeout
  // and -write-queue-tx (rqlited_main.cpp passes the flags through ApiOptions::write_queue).
  size_t capacity = 1024;   // queued requests before callers wait for room
  size_t batch_size = 128;  // statements per batch
  Duration batch_timeout = std::chrono::milliseconds(50);
  bool transaction = false;  // each batch in one transaction
  Duration retry_delay = std::chrono::seconds(1);
  Duration attempt_timeout = std::chrono::seconds(10);  // per attempt (-raft-apply-timeout)
  size_t max_blocked = 1024;  // callers waiting for room; more are refused at once
  // rqlite bounds requests only; a request may hold a 64 MiB body, so bytes are bounded too.
  uint64_t max_queued_bytes = uint64_t{256} << 20;
  uint64_t max_batch_bytes = uint64_t{16} << 20;  // well under Raft's uncommitted-bytes bound
};

// rqlite's `queued_executions_*` counters, and two of ours.
struct WriteQueueStats {
  uint64_t statements_rx = 0;     // statements queued
  uint64_t statements_tx = 0;     // statements written
  uint64_t batches_ok = 0;        // batches written (empty barriers included)
  uint64_t failed = 0;            // attempts that did not get through (each is retried)
  uint64_t no_leader = 0;         // ... because no leader was known
  uint64_t not_leader = 0;        // ... because this node was told to go to the leader itself
  uint64_t leadership_lost = 0;   // ... because the entry lost its log position
  uint64_t unknown_error = 0;     // ... timeouts and refusals
  uint64_t statement_errors = 0;  // per-statement SQL errors inside written batches (ours)
  uint64_t refused_full = 0;      // callers turned away by a full queue (ours)
  uint64_t flushes = 0;           // batches sent because they were full (rqlite's num_flush)
  uint64_t timeouts = 0;          // batches sent because the batch timeout passed (num_timeout)
};

class WriteQueue {
 public:
  // Hands a batch to the client service (svc::Service::submit in the server).
  using Submit = std::function<void(svc::Request, svc::Done)>;

  WriteQueue(Clock& clock, Submit submit, WriteQueueOptions opts, int64_t first_sequence_number,
             uint64_t session);
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues a request (no statements: a barrier). `admitted` gets its sequence number once it is
  // in: inside this call, or later when a full queue has room again. It gets an error ("queue
  // full") when the queue stayed full for `wait_for_room` or too many callers wait already.
  void enqueue(std::vector<sql::Statement> statements, Duration wait_for_room,
               std::function<void(Result<int64_t>)> admitted);
  // done(true) once every request up to `sequence_number` was written (inside this call if it
  // was already), done(false) when `timeout` passes first.
  void wait_written(int64_t sequence_number, Duration timeout, std::function<void(bool)> done);

  // The last sequence number written (0 before any): rqlite's /status
  // http.queue._default.sequence_number.
  int64_t last_written() const { return last_written_; }
  size_t queued_requests() const { return queue_.size(); }
  const WriteQueueStats& stats() const { return stats_; }
  const WriteQueueOptions& options() const { return opts_; }

 private:
  struct Item {
    int64_t sequence_number;
    std::vector<sql::Statement> statements;
    uint64_t bytes;
    Duration queued_at;
  };
  struct Blocked {
    std::vector<sql::Statement> statements;
    uint64_t bytes;
    std::function<void(Result<int64_t>)> admitted;
    TimerId timer;
  };
  struct Batch {
    int64_t last_sequence_number = 0;
    size_t requests = 0;
    uint64_t bytes = 0;
    std::vector<sql::Statement> statements;
    uint64_t session_seq = 0;  // the same on every attempt: exactly-once
  };
  struct Waiter {
    int64_t sequence_number;
    std::function<void(bool)> done;
    TimerId timer;
  };

  bool has_room(uint64_t bytes) const;
  int64_t admit(std::vector<sql::Statement> statements, uint64_t bytes);
  void admit_blocked();
  void maybe_flush();
  void take_batch();
  void send();
  void on_outcome(const svc::Response& resp);
  void written();

  Clock& clock_;
  Submit submit_;
  WriteQueueOptions opts_;
  uint64_t session_;
  uint64_t session_seq_ = 0;
  int64_t next_sequence_number_;  // the last one handed out
  int64_t last_written_ = 0;
  // Invariant: queue_.size() <= opts_.capacity; queued_statements_ and queued_bytes_ are the
  // sums over queue_.
  std::deque<Item> queue_;
  size_t queued_statements_ = 0;
  uint64_t queued_bytes_ = 0;
  // Callers waiting for room, in arrival order (by id). Invariant: non-empty only while the
  // queue is full (they are admitted as soon as a batch leaves it).
  std::map<uint64_t, Blocked> blocked_;
  std::map<uint64_t, Waiter> waiters_;
  uint64_t next_id_ = 1;
  std::optional<Batch> in_flight_;  // taken from the queue, not yet written
  bool batch_timer_armed_ = false;
  TimerId batch_timer_ = 0;
  std::optional<TimerId> retry_timer_;
  WriteQueueStats stats_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // callbacks outliving the queue check it
};

}  // namespace rq::server
