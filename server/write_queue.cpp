#include "server/write_queue.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/assert.h"
#include "server/log.h"

namespace rq::server {
namespace {

// What a request weighs in memory, near enough: its SQL and its parameters.
uint64_t weight(const std::vector<sql::Statement>& statements) {
  uint64_t n = 0;
  for (const auto& s : statements) {
    n += s.sql.size() + 16;
    for (const auto& p : s.params) n += p.name.size() + p.value.bytes.size() + 16;
  }
  return n;
}

}  // namespace

WriteQueue::WriteQueue(Clock& clock, Submit submit, WriteQueueOptions opts,
                       int64_t first_sequence_number, uint64_t session)
    : clock_(clock),
      submit_(std::move(submit)),
      opts_(opts),
      session_(session),
      next_sequence_number_(first_sequence_number) {
  // Flag values are validated where they are parsed; a zero here would stall the queue forever.
  opts_.capacity = std::max<size_t>(opts_.capacity, 1);
  opts_.batch_size = std::max<size_t>(opts_.batch_size, 1);
  RQ_ASSERT_NE(session_, 0u);
}

WriteQueue::~WriteQueue() {
  alive_.reset();
  if (batch_timer_armed_) clock_.cancel(batch_timer_);
  if (retry_timer_) clock_.cancel(*retry_timer_);
  for (auto& [id, b] : blocked_) clock_.cancel(b.timer);
  for (auto& [id, w] : waiters_) clock_.cancel(w.timer);
}

void WriteQueue::enqueue(std::vector<sql::Statement> statements, Duration wait_for_room,
                         std::function<void(Result<int64_t>)> admitted) {
  const uint64_t bytes = weight(statements);
  // First come, first served: nobody overtakes a caller already waiting for room.
  if (blocked_.empty() && has_room(bytes)) {
    admitted(admit(std::move(statements), bytes));
    return;
  }
  if (blocked_.size() >= opts_.max_blocked) {
    ++stats_.refused_full;
    admitted(make_error(ErrorCode::kInvalid, "queue full"));
    return;
  }
  const uint64_t id = next_id_++;
  std::weak_ptr<int> alive = alive_;
  const TimerId timer = clock_.schedule(wait_for_room, [this, alive, id] {
    if (alive.expired()) return;
    auto it = blocked_.find(id);
    if (it == blocked_.end()) return;
    auto admitted = std::move(it->second.admitted);
    blocked_.erase(it);
    ++stats_.refused_full;
    admitted(make_error(ErrorCode::kInvalid, "queue full"));
  });
  blocked_.emplace(id, Blocked{std::move(statements), bytes, std::move(admitted), timer});
}

bool WriteQueue::has_room(uint64_t bytes) const {
  if (queue_.size() >= opts_.capacity) return false;
  // A request alone always fits (the HTTP body limit bounds it), so none waits forever.
  return queue_.empty() || queued_bytes_ + bytes <= opts_.max_queued_bytes;
}

int64_t WriteQueue::admit(std::vector<sql::Statement> statements, uint64_t bytes) {
  RQ_ASSERT(has_room(bytes));
  const int64_t seq = ++next_sequence_number_;
  stats_.statements_rx += statements.size();
  queued_statements_ += statements.size();
  queued_bytes_ += bytes;
  queue_.push_back(Item{seq, std::move(statements), bytes, clock_.now()});
  maybe_flush();
  return seq;
}

void WriteQueue::admit_blocked() {
  while (!blocked_.empty() && has_room(blocked_.begin()->second.bytes)) {
    Blocked b = std::move(blocked_.begin()->second);
    blocked_.erase(blocked_.begin());
    clock_.cancel(b.timer);
    b.admitted(admit(std::move(b.statements), b.bytes));
  }
}

void WriteQueue::wait_written(int64_t sequence_number, Duration timeout,
                              std::function<void(bool)> done) {
  if (last_written_ >= sequence_number) {
    done(true);
    return;
  }
  const uint64_t id = next_id_++;
  std::weak_ptr<int> alive = alive_;
  const TimerId timer = clock_.schedule(timeout, [this, alive, id] {
    if (alive.expired()) return;
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    auto d = std::move(it->second.done);
    waiters_.erase(it);
    d(false);
  });
  waiters_.emplace(id, Waiter{sequence_number, std::move(done), timer});
}

void WriteQueue::maybe_flush() {
  if (in_flight_ || queue_.empty()) return;
  const Duration now = clock_.now();
  const Duration due = queue_.front().queued_at + opts_.batch_timeout;
  if (queued_statements_ >= opts_.batch_size || queued_bytes_ >= opts_.max_batch_bytes ||
      now >= due) {
    ++(now >= due ? stats_.timeouts : stats_.flushes);
    take_batch();
    send();
    return;
  }
  if (batch_timer_armed_) return;  // an earlier check is coming; it re-arms if needed
  std::weak_ptr<int> alive = alive_;
  batch_timer_armed_ = true;
  batch_timer_ = clock_.schedule(due - now, [this, alive] {
    if (alive.expired()) return;
    batch_timer_armed_ = false;
    maybe_flush();
  });
}

void WriteQueue::take_batch() {
  RQ_ASSERT(!in_flight_);
  RQ_ASSERT(!queue_.empty());
  Batch b;
  while (!queue_.empty()) {
    Item& front = queue_.front();
    // A request is never split, so one larger than the batch size goes alone.
    if (b.requests > 0 && (b.statements.size() + front.statements.size() > opts_.batch_size ||
                           b.bytes + front.bytes > opts_.max_batch_bytes)) {
      break;
    }
    queued_statements_ -= front.statements.size();
    queued_bytes_ -= front.bytes;
    b.bytes += front.bytes;
    for (auto& s : front.statements) b.statements.push_back(std::move(s));
    b.last_sequence_number = front.sequence_number;
    ++b.requests;
    queue_.pop_front();
  }
  b.session_seq = ++session_seq_;
  in_flight_ = std::move(b);
  admit_blocked();
}

void WriteQueue::send() {
  RQ_ASSERT(in_flight_);
  retry_timer_.reset();
  std::weak_ptr<int> alive = alive_;
  // The answer is handled on a fresh timer: the service's `done` must not call back into it, and
  // handling may send the next batch.
  if (in_flight_->statements.empty()) {
    clock_.schedule(Duration{0}, [this, alive] {
      if (alive.expired()) return;
      svc::Response ok;
      on_outcome(ok);
    });
    return;
  }
  svc::Request r;
  r.kind = sql::CommandKind::kExecute;
  r.statements = in_flight_->statements;  // kept for a retry
  r.transaction = opts_.transaction;
  r.timeout = opts_.attempt_timeout;
  r.session = session_;
  r.seq = in_flight_->session_seq;
  submit_(std::move(r), [this, alive](svc::Response resp) {
    if (alive.expired()) return;
    clock_.schedule(Duration{0}, [this, alive, resp = std::move(resp)] {
      if (alive.expired()) return;
      on_outcome(resp);
    });
  });
}

void WriteQueue::on_outcome(const svc::Response& resp) {
  RQ_ASSERT(in_flight_);
  switch (resp.status) {
    case svc::Status::kOk: {
      // Statement errors are the statements' business: the batch was written.
      uint64_t errors = resp.result.error.empty() ? 0 : 1;
      std::string first = resp.result.error;
      for (const auto& st : resp.result.results) {
        if (st.error.empty()) continue;
        if (first.empty()) first = st.error;
        ++errors;
      }
      if (errors > 0) {
        stats_.statement_errors += errors;
        log(LogLevel::kWarn, "queue",
            "batch up to sequence number " + std::to_string(in_flight_->last_sequence_number) +
                ": " + std::to_string(errors) + " statement error(s), first: " + first);
      }
      written();
      return;
    }
    case svc::Status::kNoLeader:
      ++stats_.no_leader;
      break;
    case svc::Status::kNotLeader:
      ++stats_.not_leader;
      break;
    case svc::Status::kFailed:
      ++stats_.leadership_lost;
      break;
    case svc::Status::kUnknown:
    case svc::Status::kError:
      ++stats_.unknown_error;
      break;
  }
  ++stats_.failed;
  log(LogLevel::kWarn, "queue",
      "batch up to sequence number " + std::to_string(in_flight_->last_sequence_number) +
          " not written (" + svc::to_string(resp.status) +
          (resp.error.empty() ? std::string() : ": " + resp.error) + "), retrying");
  std::weak_ptr<int> alive = alive_;
  retry_timer_ = clock_.schedule(opts_.retry_delay, [this, alive] {
    if (alive.expired()) return;
    send();
  });
}

void WriteQueue::written() {
  stats_.statements_tx += in_flight_->statements.size();
  ++stats_.batches_ok;
  last_written_ = in_flight_->last_sequence_number;
  in_flight_.reset();
  std::vector<std::function<void(bool)>> done;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.sequence_number > last_written_) {
      ++it;
      continue;
    }
    clock_.cancel(it->second.timer);
    done.push_back(std::move(it->second.done));
    it = waiters_.erase(it);
  }
  for (auto& d : done) d(true);
  maybe_flush();
}

}  // namespace rq::server
