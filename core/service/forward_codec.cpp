#include "core/service/forward_codec.h"

#include "core/sqlite/command_codec.h"
#include "core/wire/capnp_bytes.h"
#include "core/wire/forward.capnp.h"

namespace rq::svc {

namespace {

using wire::data_of;
using wire::str;
using wire::to_bytes;

constexpr int64_t kMaxTimeoutNanos = int64_t{3600} * 1'000'000'000;
constexpr uint32_t kMaxHops = 16;

Error invalid(const std::string& why) {
  return make_error(ErrorCode::kInvalid, "cluster message: " + why);
}

}  // namespace

std::string encode_forward(const Forwarded& f) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::ClusterMessage>().initRequest();
  w.setId(f.id);
  w.setOrigin(f.origin.v);
  sql::Command c;
  c.kind = f.req.kind;
  c.transaction = f.req.transaction;
  c.statements = f.req.statements;
  c.session = f.req.session;
  c.seq = f.req.seq;
  c.rollback_on_error = f.req.rollback_on_error;
  if (c.kind == sql::CommandKind::kLoad) c.load = f.req.load;
  w.setCommand(data_of(sql::encode_command(c)));
  w.setLevel(static_cast<uint8_t>(f.req.level));
  w.setFreshnessNanos(f.req.freshness.count());
  w.setQualifyColumns(f.req.qualify_columns);
  w.setDbTimeoutNanos(f.req.db_timeout.count());
  w.setTimeoutNanos(f.req.timeout.count());
  w.setHops(f.req.hops);
  return to_bytes(b);
}

std::string encode_forward_reply(const ForwardedReply& r) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::ClusterMessage>().initReply();
  w.setId(r.id);
  w.setStatus(static_cast<uint8_t>(r.resp.status));
  w.setResult(data_of(sql::encode_result(r.resp.result)));
  w.setRaftIndex(r.resp.raft_index.v);
  w.setRaftTerm(r.resp.raft_term.v);
  w.setLeader(r.resp.leader.v);
  w.setLeaderAddress(r.resp.leader_address);
  w.setError(r.resp.error);
  return to_bytes(b);
}

std::string encode_join(const JoinAsk& j) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::ClusterMessage>().initJoinRequest();
  w.setId(j.id);
  w.setNode(j.node.v);
  w.setAddress(j.address);
  w.setVoter(j.voter);
  w.setIncarnation(j.incarnation);
  w.setName(j.name);
  return to_bytes(b);
}

std::string encode_join_answer(const JoinAnswer& a) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::ClusterMessage>().initJoinReply();
  w.setId(a.id);
  w.setStatus(static_cast<uint8_t>(a.result.status));
  w.setLeader(a.result.leader.v);
  w.setLeaderAddress(a.result.leader_address);
  w.setError(a.result.error);
  w.setIndex(a.result.index.v);
  w.setTerm(a.result.term.v);
  return to_bytes(b);
}

std::string encode_call(const CallAsk& c) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::ClusterMessage>().initCall();
  w.setId(c.id);
  w.setOrigin(c.origin.v);
  w.setPayload(data_of(c.payload));
  return to_bytes(b);
}

std::string encode_call_answer(const CallAnswer& a) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::ClusterMessage>().initCallReply();
  w.setId(a.id);
  w.setPayload(data_of(a.payload));
  return to_bytes(b);
}

std::string encode_notify(const Notice& n) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::ClusterMessage>().initNotify();
  w.setNode(n.node.v);
  w.setAddress(n.address);
  w.setName(n.name);
  w.setIncarnation(n.incarnation);
  w.setBlank(n.blank);
  if (!n.founders.empty()) {
    w.setFounders(data_of(n.founders));
  }
  return to_bytes(b);
}

namespace {

Result<ClusterMessage> decode_root(wire::ClusterMessage::Reader root) {
  if (root.isRequest()) {
    auto r = root.getRequest();
    Forwarded f;
    f.id = r.getId();
    f.origin = NodeId(r.getOrigin());
    if (!f.origin.valid()) return invalid("request without an origin");
    auto c = sql::decode_command(str(r.getCommand()));
    if (!c) return c.error();
    if (r.getLevel() > static_cast<uint8_t>(ReadLevel::kAuto))
      return invalid("unknown read level");
    if (r.getTimeoutNanos() <= 0 || r.getTimeoutNanos() > kMaxTimeoutNanos)
      return invalid("timeout out of range");
    if (r.getFreshnessNanos() < 0) return invalid("negative freshness");
    if (r.getDbTimeoutNanos() < 0) return invalid("negative db timeout");
    if (r.getHops() == 0 || r.getHops() > kMaxHops) return invalid("hop count out of range");
    f.req.kind = c->kind;
    f.req.transaction = c->transaction;
    f.req.statements = std::move(c->statements);
    f.req.session = c->session;
    f.req.seq = c->seq;
    f.req.rollback_on_error = c->rollback_on_error;
    f.req.load = std::move(c->load);
    f.req.level = static_cast<ReadLevel>(r.getLevel());
    f.req.freshness = Duration(r.getFreshnessNanos());
    f.req.qualify_columns = r.getQualifyColumns();
    f.req.db_timeout = Duration(r.getDbTimeoutNanos());
    f.req.timeout = Duration(r.getTimeoutNanos());
    f.req.hops = r.getHops();
    return ClusterMessage(std::move(f));
  }
  if (root.isJoinRequest()) {
    auto r = root.getJoinRequest();
    JoinAsk j;
    j.id = r.getId();
    j.node = NodeId(r.getNode());
    if (!j.node.valid()) return invalid("join without a node id");
    j.address = r.getAddress().cStr();
    if (j.address.empty() || j.address.size() > 1024) return invalid("join address out of range");
    j.voter = r.getVoter();
    j.incarnation = r.getIncarnation();
    j.name = r.getName().cStr();
    if (j.name.size() > 1024) return invalid("join name out of range");
    return ClusterMessage(std::move(j));
  }
  if (root.isJoinReply()) {
    auto r = root.getJoinReply();
    JoinAnswer a;
    a.id = r.getId();
    if (r.getStatus() > static_cast<uint8_t>(MembershipResult::Status::kInvalid))
      return invalid("unknown join status");
    a.result.status = static_cast<MembershipResult::Status>(r.getStatus());
    a.result.leader = NodeId(r.getLeader());
    a.result.leader_address = r.getLeaderAddress().cStr();
    a.result.error = r.getError().cStr();
    a.result.index = LogIndex(r.getIndex());
    a.result.term = Term(r.getTerm());
    return ClusterMessage(std::move(a));
  }
  if (root.isCall()) {
    auto r = root.getCall();
    CallAsk c;
    c.id = r.getId();
    c.origin = NodeId(r.getOrigin());
    if (!c.origin.valid()) return invalid("call without an origin");
    c.payload = str(r.getPayload());
    return ClusterMessage(std::move(c));
  }
  if (root.isNotify()) {
    auto r = root.getNotify();
    Notice n;
    n.node = NodeId(r.getNode());
    if (!n.node.valid()) return invalid("notify without a node id");
    n.address = r.getAddress().cStr();
    if (n.address.empty() || n.address.size() > 1024) return invalid("notify address out of range");
    n.name = r.getName().cStr();
    if (n.name.size() > 1024) return invalid("notify name out of range");
    n.incarnation = r.getIncarnation();
    n.blank = r.getBlank();
    n.founders = str(r.getFounders());
    if (!n.founders.empty() && !raft::Membership::decode(n.founders))
      return invalid("notify with a malformed founding membership");
    return ClusterMessage(std::move(n));
  }
  if (root.isCallReply()) {
    auto r = root.getCallReply();
    return ClusterMessage(CallAnswer{r.getId(), str(r.getPayload())});
  }
  if (!root.isReply()) return invalid("unknown message");
  auto r = root.getReply();
  ForwardedReply out;
  out.id = r.getId();
  if (r.getStatus() > static_cast<uint8_t>(Status::kError)) return invalid("unknown status");
  out.resp.status = static_cast<Status>(r.getStatus());
  auto res = sql::decode_result(str(r.getResult()));
  if (!res) return res.error();
  out.resp.result = std::move(*res);
  out.resp.raft_index = LogIndex(r.getRaftIndex());
  out.resp.raft_term = Term(r.getRaftTerm());
  out.resp.leader = NodeId(r.getLeader());
  out.resp.leader_address = r.getLeaderAddress().cStr();
  out.resp.error = r.getError().cStr();
  return ClusterMessage(std::move(out));
}

}  // namespace

Result<ClusterMessage> decode_cluster_message(std::string_view bytes) {
  return wire::read_flat<wire::ClusterMessage>(bytes, "cluster message", decode_root);
}

}  // namespace rq::svc
