#include "sim/workload.h"

namespace rq::sim {

Workload::Workload(EventQueue& q, Prng prng, size_t clients, size_t nodes, Duration think, Duration timeout,
                   Checker& checker, Submit submit)
    : q_(q),
      prng_(prng),
      nodes_(nodes),
      think_(think),
      timeout_(timeout),
      checker_(checker),
      submit_(std::move(submit)),
      clients_(clients) {
  for (size_t c = 0; c < clients_.size(); ++c) clients_[c].id = c + 1;
}

NodeId Workload::random_node() { return NodeId(prng_.range(1, nodes_)); }

void Workload::start() {
  for (size_t c = 0; c < clients_.size(); ++c) {
    next_value(c);
    retry_later(c, Duration(static_cast<int64_t>(prng_.below(1'000'000))));
  }
}

void Workload::next_value(size_t c) {
  Client& cl = clients_[c];
  ++cl.seq;
  cl.value = "c" + std::to_string(cl.id) + "-" + std::to_string(cl.seq);
}

void Workload::retry_later(size_t c, Duration after) {
  const uint64_t attempt = clients_[c].attempt;
  q_.after(after, [this, c, attempt] {
    if (clients_[c].attempt == attempt) issue(c);
  });
}

void Workload::issue(size_t c) {
  if (stopped_) return;
  Client& cl = clients_[c];
  const uint64_t attempt = ++cl.attempt;
  const NodeId target = cl.belief.valid() ? cl.belief : random_node();
  cl.invoked = q_.now();
  ++stats_.proposals;
  q_.after(timeout_, [this, c, attempt] {
    Client& me = clients_[c];
    if (me.attempt != attempt) return;
    // Unknown outcome: try again, same value, somewhere else.
    ++stats_.timeouts;
    me.belief = random_node();
    issue(c);
  });
  submit_(target, cl.value, [this, c, attempt, target](raft::ProposeResult r) { on_proposed(c, attempt, target, r); });
}

// Runs on the node, synchronously with the proposal: the node starts waiting for the entry at
// once (a client learns the outcome only when it is applied, or when the node says no).
void Workload::on_proposed(size_t c, uint64_t attempt, NodeId target, const raft::ProposeResult& r) {
  Client& cl = clients_[c];
  if (cl.attempt != attempt) return;
  const Duration hop = std::chrono::microseconds(100);
  switch (r.status) {
    case raft::ProposeStatus::kOk:
      cl.belief = target;
      pending_[{target.v, r.index.v}] = Pending{c, attempt, r.term};
      break;
    case raft::ProposeStatus::kNotLeader:
      ++stats_.redirects;
      cl.belief = r.leader.valid() && r.leader != target ? r.leader : random_node();
      ++cl.attempt;
      retry_later(c, hop + think_ + std::chrono::milliseconds(1));
      break;
    case raft::ProposeStatus::kDropped:
    case raft::ProposeStatus::kConfigPending:
    case raft::ProposeStatus::kInvalid:
      ++cl.attempt;
      retry_later(c, hop + think_ + std::chrono::milliseconds(10));
      break;
  }
}

void Workload::on_applied(NodeId n, const raft::Entry& e) {
  auto it = pending_.find({n.v, e.index.v});
  if (it == pending_.end()) return;
  const Pending p = it->second;
  pending_.erase(it);
  Client& cl = clients_[p.client];
  if (cl.attempt != p.attempt) return;
  ++cl.attempt;  // this attempt is resolved; its timeout must not fire
  if (e.term != p.term) {
    // Another entry committed at our index: ours can never commit (Log Matching).
    ++stats_.definite_failures;
    retry_later(p.client, think_);
    return;
  }
  RQ_ASSERT(e.data == cl.value);
  const Duration invoked = cl.invoked;
  const size_t c = p.client;
  // The acknowledgement reaches the client after a network hop.
  q_.after(std::chrono::microseconds(200), [this, c, e, invoked] {
    ++stats_.acks;
    checker_.on_acknowledged(e.index, e.term, e.data);
    if (invoked >= fresh_after_ && !first_fresh_ack_) first_fresh_ack_ = q_.now();
    next_value(c);
    retry_later(c, think_);
  });
}

void Workload::on_crash(NodeId n) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = it->first.first == n.v ? pending_.erase(it) : std::next(it);
  }
}

}  // namespace rq::sim
