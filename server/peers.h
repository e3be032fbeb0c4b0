// What one rqlited node asks of another above the service, over the same Raft port
// (svc::Service::call; the messages are server/peers.capnp):
//   - node metadata, rqlite's GET_NODE_META: the node's name, API URL, version, commit index.
//     /nodes asks every member; a 301 (`redirect`) names the leader's API URL learned this way.
//   - HTTP requests that only the leader can serve (DELETE /remove, POST /leader, GET
//     /db/backup): the follower sends the request, the leader's Api answers it as if it came
//     from a client, and its response goes back unchanged. A response whose body is a file (a
//     backup) stays on the leader; the follower pulls it in bounded chunks into a file of its
//     own, so neither side holds a whole database in memory and no message exceeds the chunk.
// A peer whose connection cannot be made fails a call at once ("dial tcp ...: connection
// refused"), as rqlite's dial does, instead of at the end of the timeout.
// Everything runs on the io_context's thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "server/http_server.h"
#include "server/node_host.h"
#include "server/peer_codec.h"

namespace rq::server {

struct PeersOptions {
  std::string api_url;                      // this node's, with scheme
  size_t chunk_bytes = size_t{4} << 20;     // per ChunkCall answer
  Duration transfer_idle = std::chrono::seconds(60);  // a body nobody pulls is dropped after
  Duration url_cache = std::chrono::seconds(5);       // api_url() reuses an answer this long
};

// The operation a forwarded HTTP request is, for rqlite's counters.
enum class PeerOp : uint8_t { kRemove, kStepdown, kBackup, kOther };
PeerOp peer_op(const std::string& method, const std::string& path);

struct PeersStats {
  uint64_t meta_asked = 0;    // metadata asked of other nodes (retries included)
  uint64_t meta_retries = 0;  // ... of which retries
  uint64_t meta_served = 0;
  uint64_t served_by_op[4] = {0, 0, 0, 0};     // forwarded HTTP requests answered here, by PeerOp
  uint64_t forwarded_by_op[4] = {0, 0, 0, 0};  // HTTP requests sent to the leader, by PeerOp
  uint64_t http_served = 0;     // forwarded HTTP requests answered here
  uint64_t http_forwarded = 0;  // HTTP requests sent to another node
  uint64_t chunks_served = 0;
  uint64_t bad_calls = 0;  // undecodable calls (answered with an error)
};

class Peers {
 public:
  Peers(NodeHost& host, PeersOptions opts);
  ~Peers();
  Peers(const Peers&) = delete;
  Peers& operator=(const Peers&) = delete;

  // Who answers forwarded HTTP requests here (the Api); requests arrive with `forwarded` set.
  void set_http_handler(HttpHandler h) { http_ = std::move(h); }

  NodeMeta self() const;

  // Node `id`'s metadata (this node answers itself), asked up to 1 + `retries` times, each
  // bounded by `timeout`. `took`: how long the answer took.
  using MetaDone = std::function<void(Result<NodeMeta>, Duration took)>;
  void meta(NodeId id, Duration timeout, int retries, MetaDone done);

  // Node `id`'s API URL ("" when it could not be learned within `timeout`); an answer younger
  // than PeersOptions::url_cache is reused.
  void api_url(NodeId id, Duration timeout, std::function<void(std::string url)> done);

  // Sends `req` to node `to`'s API and answers `reply` with its response: 503 with the reason
  // when the node cannot be reached or does not answer within `timeout`.
  void forward(NodeId to, HttpRequest req, Duration timeout, HttpReply reply);

  const PeersStats& stats() const { return stats_; }

 private:
  struct Transfer;
  struct Pull;
  // Service::call that fails at once when the connection to `to` fails.
  void call(NodeId to, std::string payload, Duration timeout,
            std::function<void(Result<std::string>)> done);
  void on_call(NodeId from, std::string payload, std::function<void(std::string)> reply);
  std::string answer_http(HttpResponse resp);
  std::string answer_chunk(uint64_t transfer, uint64_t offset);
  void expire(uint64_t transfer);
  void pull_next(std::shared_ptr<Pull> p);

  NodeHost& host_;
  PeersOptions opts_;
  HttpHandler http_;
  PeersStats stats_;
  std::map<uint64_t, std::unique_ptr<Transfer>> transfers_;  // bodies kept for other nodes
  uint64_t next_transfer_ = 1;
  struct CachedUrl {
    std::string url;
    Duration at{0};
  };
  std::map<NodeId, CachedUrl> urls_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace rq::server
