#include "server/peers.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "core/wire/capnp_bytes.h"
#include "server/flags.h"
#include "server/log.h"
#include "server/peer_codec.h"
#include "server/peers.capnp.h"
#include "server/responses.h"

namespace rq::server {

namespace {

// How often a call checks whether its connection failed.
constexpr Duration kDialPoll = std::chrono::milliseconds(20);

using wire::data_of;
using wire::to_bytes;

std::string error_answer(const std::string& why) {
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::PeerAnswer>().setError(why);
  return to_bytes(b);
}

HttpResponse unavailable(const std::string& why) {
  return http_error(503, why);
}

// A call in flight, answered once: by the other node, by the service's timeout, or by a failed
// connection attempt.
struct CallState {
  bool finished = false;
  uint64_t failures = 0;  // the peer's failed connection attempts when the call was made
  std::function<void(Result<std::string>)> done;
};

// Fail fast: a connection attempt made after the call failed means the peer is down.
void watch_dial(NodeHost& host, std::weak_ptr<int> alive, NodeId to,
                std::shared_ptr<CallState> st) {
  host.clock().schedule(kDialPoll, [&host, alive, to, st] {
    if (alive.expired() || st->finished) return;
    const net::PeerState ps = host.transport().peer_state(to);
    if (!ps.connected && ps.failures > st->failures) {
      st->finished = true;
      st->done(make_error(ErrorCode::kIo, ps.last_error));
      return;
    }
    watch_dial(host, alive, to, st);
  });
}

}  // namespace

struct Peers::Transfer {
  std::shared_ptr<BodyFile> file;
  int fd = -1;
  uint64_t size = 0;
  TimerId expiry = 0;
  ~Transfer() {
    if (fd >= 0) ::close(fd);
  }
};

// A forwarded response's body being pulled from the other node into a local file.
struct Peers::Pull {
  NodeId from;
  uint64_t transfer = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
  int fd = -1;
  std::shared_ptr<BodyFile> file;
  HttpResponse resp;  // status and headers; the body goes to `file`
  Duration deadline{0};
  HttpReply reply;
  ~Pull() {
    if (fd >= 0) ::close(fd);
  }
};

Peers::Peers(NodeHost& host, PeersOptions opts) : host_(host), opts_(std::move(opts)) {
  host_.service().set_call_handler(
      [this](NodeId from, std::string payload, svc::Service::CallReplyFn reply) {
        on_call(from, std::move(payload), std::move(reply));
      });
}

Peers::~Peers() {
  host_.service().set_call_handler({});
  for (auto& [id, t] : transfers_) host_.clock().cancel(t->expiry);
}

NodeMeta Peers::self() const {
  NodeMeta m;
  m.name = host_.options().node_id;
  m.api_addr = opts_.api_url;
  m.version = kVersion;
  m.commit_index = host_.node().raft().log().committed().v;
  return m;
}

void Peers::call(NodeId to, std::string payload, Duration timeout,
                 std::function<void(Result<std::string>)> done) {
  auto st = std::make_shared<CallState>();
  st->failures = host_.transport().peer_state(to).failures;
  st->done = std::move(done);
  host_.service().call(to, std::move(payload), timeout, [st](Result<std::string> r) {
    if (st->finished) return;
    st->finished = true;
    st->done(std::move(r));
  });
  watch_dial(host_, alive_, to, st);
}

// ---- node metadata ------------------------------------------------------------------------

PeerOp peer_op(const std::string& method, const std::string& path) {
  if (method == "DELETE" && path.rfind("/remove", 0) == 0) return PeerOp::kRemove;
  if (method == "POST" && path == "/leader") return PeerOp::kStepdown;
  if (path.rfind("/db/backup", 0) == 0) return PeerOp::kBackup;
  return PeerOp::kOther;
}

void Peers::meta(NodeId id, Duration timeout, int retries, MetaDone done) {
  const Duration started = host_.clock().now();
  if (id == host_.node().id()) {
    done(self(), std::max<Duration>(host_.clock().now() - started, Duration{1}));
    return;
  }
  capnp::MallocMessageBuilder b;
  b.initRoot<wire::PeerCall>().setMeta();
  ++stats_.meta_asked;
  std::weak_ptr<int> alive = alive_;
  call(id, to_bytes(b), timeout,
       [this, alive, id, timeout, retries, started, done = std::move(done)](
           Result<std::string> r) mutable {
         if (alive.expired()) return;
         if (!r) {
           if (retries > 0) {
             ++stats_.meta_retries;
             return meta(id, timeout, retries - 1, std::move(done));
           }
           const std::string why = r.error().code == ErrorCode::kTimeout
                                       ? "timeout waiting for node to respond"
                                       : r.error().message;
           return done(make_error(r.error().code, why), Duration{0});
         }
         Result<NodeMeta> m = decode_meta_answer(*r);
         if (!m) return done(m.error(), Duration{0});
         urls_[id] = CachedUrl{m->api_addr, host_.clock().now()};
         done(std::move(*m), std::max<Duration>(host_.clock().now() - started, Duration{1}));
       });
}

void Peers::api_url(NodeId id, Duration timeout, std::function<void(std::string)> done) {
  if (id == host_.node().id()) return done(opts_.api_url);
  auto it = urls_.find(id);
  if (it != urls_.end() && host_.clock().now() - it->second.at < opts_.url_cache)
    return done(it->second.url);
  meta(id, timeout, 0, [done = std::move(done)](Result<NodeMeta> m, Duration) {
    done(m ? m->api_addr : std::string());
  });
}

// ---- forwarded HTTP -------------------------------------------------------------------------

void Peers::forward(NodeId to, HttpRequest req, Duration timeout, HttpReply reply) {
  if (req.body_file) {
    // Spooled bodies are database images: /db/load goes through the service, never here.
    return reply(unavailable("cannot forward a spooled request body"));
  }
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::PeerCall>().initHttp();
  w.setMethod(req.method);
  w.setPath(req.path);
  w.setQuery(req.query);
  w.setContentType(req.content_type);
  w.setBody(data_of(req.body));
  ++stats_.http_forwarded;
  ++stats_.forwarded_by_op[static_cast<size_t>(peer_op(req.method, req.path))];
  const Duration deadline = host_.clock().now() + timeout;
  std::weak_ptr<int> alive = alive_;
  call(to, to_bytes(b), timeout,
       [this, alive, to, deadline, reply = std::move(reply)](Result<std::string> r) {
         if (alive.expired()) return;
         if (!r) {
           return reply(unavailable(r.error().code == ErrorCode::kTimeout
                                        ? "timeout waiting for the leader to respond"
                                        : r.error().message));
         }
         Result<HttpAnswer> answer = decode_http_answer(*r);
         if (!answer)
           return reply(unavailable("bad answer from the leader: " + answer.error().message));
         if (answer->transfer == 0) return reply(std::move(answer->resp));
         // A file body: pulled in chunks into a file here.
         auto p = std::make_shared<Pull>();
         p->resp = std::move(answer->resp);
         p->transfer = answer->transfer;
         p->size = answer->size;
         static uint64_t pulls = 0;
         const std::string path = host_.temp_dir() + "/pull-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(++pulls);
         p->fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
         if (p->fd < 0) return reply(unavailable("cannot create " + path));
         p->file = std::make_shared<BodyFile>(path);
         p->from = to;
         p->deadline = deadline;
         p->reply = reply;
         pull_next(p);
       });
}

void Peers::pull_next(std::shared_ptr<Pull> p) {
  if (p->offset >= p->size) {
    ::close(p->fd);
    p->fd = -1;
    p->resp.body.clear();
    p->resp.body_file = p->file;
    return p->reply(std::move(p->resp));
  }
  const Duration left = p->deadline - host_.clock().now();
  if (left <= Duration{0}) return p->reply(unavailable("timeout fetching the leader's answer"));
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::PeerCall>().initChunk();
  w.setTransfer(p->transfer);
  w.setOffset(p->offset);
  std::weak_ptr<int> alive = alive_;
  call(p->from, to_bytes(b), left, [this, alive, p](Result<std::string> r) {
    if (alive.expired()) return;
    if (!r) return p->reply(unavailable("fetching the leader's answer: " + r.error().message));
    Result<std::string> got = decode_chunk_answer(*r);
    if (!got) return p->reply(unavailable("fetching the leader's answer: " + got.error().message));
    const std::string chunk = std::move(*got);
    if (chunk.empty() || chunk.size() > p->size - p->offset)
      return p->reply(unavailable("fetching the leader's answer: bad chunk length"));
    size_t done = 0;
    while (done < chunk.size()) {
      const ssize_t n = ::write(p->fd, chunk.data() + done, chunk.size() - done);
      if (n <= 0) return p->reply(unavailable("writing the leader's answer to disk failed"));
      done += static_cast<size_t>(n);
    }
    p->offset += chunk.size();
    pull_next(p);
  });
}

// ---- answering other nodes ------------------------------------------------------------------

void Peers::on_call(NodeId from, std::string payload, std::function<void(std::string)> reply) {
  Result<PeerCall> call = decode_peer_call(payload, from);
  if (!call) {
    ++stats_.bad_calls;
    log(LogLevel::kWarn, "peers", "bad call from node " + std::to_string(from.v) + ": " +
                                      call.error().message);
    return reply(error_answer(call.error().message));
  }
  HttpRequest req = std::move(call->http);
  switch (call->kind) {
    case PeerCall::Kind::kMeta: {
      ++stats_.meta_served;
      const NodeMeta m = self();
      capnp::MallocMessageBuilder b;
      auto w = b.initRoot<wire::PeerAnswer>().initMeta();
      w.setName(m.name);
      w.setApiAddr(m.api_addr);
      w.setVersion(m.version);
      w.setCommitIndex(m.commit_index);
      return reply(to_bytes(b));
    }
    case PeerCall::Kind::kChunk:
      ++stats_.chunks_served;
      return reply(answer_chunk(call->transfer, call->offset));
    case PeerCall::Kind::kHttp:
      break;
  }
  ++stats_.http_served;
  ++stats_.served_by_op[static_cast<size_t>(peer_op(req.method, req.path))];
  if (!http_) return reply(error_answer("no API on this node"));
  std::weak_ptr<int> alive = alive_;
  http_(std::move(req), [this, alive, reply = std::move(reply)](HttpResponse resp) {
    if (alive.expired()) return;
    reply(answer_http(std::move(resp)));
  });
}

std::string Peers::answer_http(HttpResponse resp) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::PeerAnswer>().initHttp();
  w.setStatus(static_cast<uint16_t>(resp.status));
  w.setContentType(resp.content_type);
  auto hs = w.initHeaders(static_cast<unsigned>(resp.headers.size()));
  for (unsigned k = 0; k < resp.headers.size(); ++k) {
    hs[k].setName(resp.headers[k].first);
    hs[k].setValue(resp.headers[k].second);
  }
  if (resp.body_file) {
    auto t = std::make_unique<Transfer>();
    t->fd = ::open(resp.body_file->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (t->fd < 0) {
      w.setStatus(500);
      w.setBody(data_of("cannot open the response body"));
      return to_bytes(b);
    }
    t->file = std::move(resp.body_file);
    t->size = t->file->size();
    if (t->size == 0) return to_bytes(b);
    const uint64_t id = next_transfer_++;
    w.setTransfer(id);
    w.setSize(t->size);
    transfers_[id] = std::move(t);
    expire(id);
    return to_bytes(b);
  }
  w.setBody(data_of(resp.body));
  return to_bytes(b);
}

void Peers::expire(uint64_t id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  host_.clock().cancel(it->second->expiry);
  std::weak_ptr<int> alive = alive_;
  it->second->expiry = host_.clock().schedule(opts_.transfer_idle, [this, alive, id] {
    if (!alive.expired()) transfers_.erase(id);
  });
}

std::string Peers::answer_chunk(uint64_t id, uint64_t offset) {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::PeerAnswer>().initChunk();
  auto it = transfers_.find(id);
  if (it == transfers_.end()) {
    w.setError("no such transfer (expired?)");
    return to_bytes(b);
  }
  Transfer& t = *it->second;
  if (offset >= t.size) {
    w.setError("offset past the end");
    return to_bytes(b);
  }
  std::string buf(std::min<uint64_t>(opts_.chunk_bytes, t.size - offset), '\0');
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::pread(t.fd, buf.data() + got, buf.size() - got,
                              static_cast<off_t>(offset + got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != buf.size()) {
    w.setError("reading the response body failed");
    transfers_.erase(it);
    return to_bytes(b);
  }
  w.setData(data_of(buf));
  if (offset + got >= t.size) {
    host_.clock().cancel(t.expiry);
    transfers_.erase(it);  // the last piece: the file goes
  } else {
    expire(id);
  }
  return to_bytes(b);
}

}  // namespace rq::server
