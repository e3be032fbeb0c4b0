// The Transport boundary on TCP (Boost.Asio): each message is one frame, a 4-byte little-endian
// length then the bytes (the node's Cap'n Proto envelope), as ../shared/spec/stack.md measured
// best: Cap'n Proto as the message format over plain sockets, no second event loop.
//   - One listener on the Raft address takes frames from any peer and hands them to `deliver`
//     (the envelope names its sender, so a connection needs no handshake).
//   - One outgoing connection per peer, opened on first use, reused, reopened with exponential
//     backoff after an error; frames queued while it is down are kept up to a byte bound, then
//     dropped (Raft retries what matters), as are frames older than a few seconds: a peer that
//     comes back (perhaps as a new process) gets no stale requests. Frames are coalesced into
//     one write.
//   - A frame longer than the limit, or a connection idle past the read deadline, closes that
//     connection and is counted; nothing a peer sends can stop the node.
// Runs on the node's io_context thread; `send` must be called there.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/transport.h"

namespace boost::asio {
class io_context;
}

namespace rq::net {

struct TcpTransportOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;                     // 0: any free port (see port())
  uint32_t max_frame_bytes = 80u << 20;         // larger frames close the connection
  uint64_t max_queued_bytes = 64ull << 20;      // per peer, while its connection is down or slow
  uint64_t max_write_batch_bytes = 1ull << 20;  // frames coalesced per write
  Duration connect_timeout = std::chrono::seconds(3);
  Duration backoff_min = std::chrono::milliseconds(50);
  Duration backoff_max = std::chrono::seconds(2);
  Duration read_idle_timeout = std::chrono::seconds(60);
  // Frames still queued this long after they were sent are dropped instead of written.
  Duration max_queue_age = std::chrono::seconds(3);
  // Outgoing connections are made from this address ("" : the system's choice). rqlited sets
  // it to the Raft bind address when that is one specific IP, so a node speaks from the address
  // it listens on (on one host with many loopback addresses, nodes are told apart on the wire).
  std::string source_host;
  // TCP_USER_TIMEOUT of outgoing connections (0: the system's).
  Duration user_timeout = std::chrono::seconds(5);
  // Told about hostile or broken peers (an oversized frame: the connection is closed).
  std::function<void(const std::string&)> warn;
  // Told when an outgoing connection to a node fails: it could not be made, or the other end
  // answered on it, which a sqlraft node never does (`why` then says what it seems to be, e.g.
  // "appears to be serving HTTP"). Lets a caller waiting for that node's answer give up now.
  std::function<void(NodeId, const std::string& why)> peer_failed;
};

struct TcpTransportStats {
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t frames_dropped = 0;  // queue over its bound, or no address for the peer
  uint64_t connects = 0;        // outgoing connections established
  uint64_t connect_failures = 0;
  uint64_t accepted = 0;          // incoming connections
  uint64_t oversized_frames = 0;  // incoming frames over the limit (connection closed)
};

// One peer's outgoing connection, as last seen (for callers that want to fail fast).
struct PeerState {
  bool connected = false;
  uint64_t failures = 0;   // connection attempts that failed, ever
  std::string last_error;  // the newest of them: "dial tcp ADDR: connect: connection refused"
  bool foreign = false;    // the other end answered on the connection: not a sqlraft node
};

class TcpTransport final : public Transport {
 public:
  using Deliver = std::function<void(std::string_view bytes)>;
  // Where a node listens ("host:port"), or "" if unknown; asked when connecting.
  using Resolve = std::function<std::string(NodeId)>;

  TcpTransport(boost::asio::io_context& io, TcpTransportOptions opts, Deliver deliver,
               Resolve resolve);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  Status start();  // binds and listens
  void stop();     // closes the listener and every connection
  void send(NodeId to, std::string bytes) override;
  // Forgets a peer's connection (e.g. its address changed): the next send reconnects.
  void reset_peer(NodeId id);
  // A node outside the membership (a joiner, a join target): used when `resolve` knows nothing.
  void learn(NodeId id, const std::string& address) override;
  uint16_t port() const;
  const TcpTransportStats& stats() const;
  PeerState peer_state(NodeId id) const;

  struct Impl;  // public for the .cpp's connection classes

 private:
  std::shared_ptr<Impl> impl_;
};

// "host:port" (IPv6 in brackets) into its parts; false if malformed.
bool split_host_port(const std::string& addr, std::string* host, uint16_t* port);

}  // namespace rq::net
