// The cluster layer's messages <-> Cap'n Proto bytes (core/wire/forward.capnp): forwarded
// requests and replies, joins and their answers, calls between upper layers, bootstrap notices.
// Decoding treats its input as hostile: anything malformed or out of range is an Error.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "core/result.h"
#include "core/service/service.h"

namespace rq::svc {

struct Forwarded {
  uint64_t id = 0;
  NodeId origin;
  Request req;  // hops as received
};

struct ForwardedReply {
  uint64_t id = 0;
  Response resp;
};

struct JoinAsk {
  uint64_t id = 0;
  NodeId node;          // the joiner
  std::string address;  // its advertised Raft address
  bool voter = true;
  uint64_t incarnation = 0;
  std::string name{};  // its rqlite node id
};

struct JoinAnswer {
  uint64_t id = 0;
  MembershipResult result;  // status, leader, leader_address, error
};

struct CallAsk {
  uint64_t id = 0;
  NodeId origin;
  std::string payload;
};

struct CallAnswer {
  uint64_t id = 0;
  std::string payload;
};

struct Notice {
  NodeId node;
  std::string address;
  std::string name{};
  uint64_t incarnation = 0;
  bool blank = true;  // the sender has never been part of a cluster
  std::string founders{};  // raft::Membership::encode() of the founding membership, or ""
};

using ClusterMessage =
    std::variant<Forwarded, ForwardedReply, JoinAsk, JoinAnswer, CallAsk, CallAnswer, Notice>;

std::string encode_forward(const Forwarded& f);
std::string encode_forward_reply(const ForwardedReply& r);
std::string encode_join(const JoinAsk& j);
std::string encode_join_answer(const JoinAnswer& a);
std::string encode_call(const CallAsk& c);
std::string encode_notify(const Notice& n);
std::string encode_call_answer(const CallAnswer& a);
Result<ClusterMessage> decode_cluster_message(std::string_view bytes);

}  // namespace rq::svc
