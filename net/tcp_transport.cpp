#include "net/tcp_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <set>

namespace rq::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

bool split_host_port(const std::string& addr, std::string* host, uint16_t* port) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size()) return false;
  std::string h = addr.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  uint32_t p = 0;
  for (size_t i = colon + 1; i < addr.size(); ++i) {
    if (addr[i] < '0' || addr[i] > '9') return false;
    p = p * 10 + static_cast<uint32_t>(addr[i] - '0');
    if (p > 65535) return false;
  }
  *host = h.empty() ? "0.0.0.0" : h;
  *port = static_cast<uint16_t>(p);
  return true;
}

namespace {

std::string frame(std::string_view bytes) {
  std::string f(4 + bytes.size(), '\0');
  const auto n = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) f[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  std::copy(bytes.begin(), bytes.end(), f.begin() + 4);
  return f;
}

}  // namespace

class Peer;
class Inbound;

struct TcpTransport::Impl : std::enable_shared_from_this<TcpTransport::Impl> {
  Impl(asio::io_context& io, TcpTransportOptions o, Deliver d, Resolve r)
      : io(io), opts(std::move(o)), deliver(std::move(d)), resolve(std::move(r)), acceptor(io) {}
  void accept();

  asio::io_context& io;
  TcpTransportOptions opts;
  Deliver deliver;
  Resolve resolve;
  tcp::acceptor acceptor;
  std::map<NodeId, std::shared_ptr<Peer>> peers;
  std::map<NodeId, std::string> learned;  // addresses of nodes outside the membership (bounded)
  std::set<std::shared_ptr<Inbound>> inbound;
  TcpTransportStats stats;
  bool stopped = false;
};

// An outgoing connection to one peer, with its queue of frames.
class Peer : public std::enable_shared_from_this<Peer> {
 public:
  Peer(std::shared_ptr<TcpTransport::Impl> t, NodeId id)
      : t_(std::move(t)),
        id_(id),
        socket_(t_->io),
        resolver_(t_->io),
        timer_(t_->io),
        backoff_(t_->opts.backoff_min) {}

  void send(std::string bytes) {
    const size_t size = bytes.size() + 4;
    if (queued_bytes_ + size > t_->opts.max_queued_bytes) {
      ++t_->stats.frames_dropped;
      return;
    }
    queue_.push_back(frame(bytes));
    queued_at_.push_back(std::chrono::steady_clock::now());
    queued_bytes_ += size;
    if (state_ == State::kIdle)
      connect();
    else if (state_ == State::kConnected && !writing_)
      write();
  }

  PeerState state() const {
    PeerState s;
    s.connected = state_ == State::kConnected;
    s.failures = failures_;
    s.last_error = last_error_;
    s.foreign = foreign_;
    return s;
  }

  void close() {
    error_code ec;
    socket_.close(ec);
    timer_.cancel();
    resolver_.cancel();
    state_ = State::kClosed;
  }

 private:
  enum class State { kIdle, kConnecting, kConnected, kWaiting, kClosed };

  void connect() {
    std::string addr = t_->resolve(id_);
    if (addr.empty()) {
      auto it = t_->learned.find(id_);
      if (it != t_->learned.end()) addr = it->second;
    }
    std::string host;
    uint16_t port = 0;
    if (addr.empty() || !split_host_port(addr, &host, &port)) {
      ++failures_;
      last_error_ = addr.empty() ? "no address for node " + std::to_string(id_.v)
                                 : "bad address " + addr;
      drop_queue();
      state_ = State::kIdle;
      return;
    }
    state_ = State::kConnecting;
    addr_ = addr;
    timer_.expires_after(t_->opts.connect_timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec && self->state_ == State::kConnecting) {
        error_code ignored;
        self->socket_.close(ignored);  // the pending connect fails with operation_aborted
        self->resolver_.cancel();
      }
    });
    resolver_.async_resolve(
        host, std::to_string(port),
        [self = shared_from_this()](const error_code& ec, tcp::resolver::results_type results) {
          if (self->state_ != State::kConnecting) return;
          if (ec) return self->failed(ec);
          if (!self->t_->opts.source_host.empty()) return self->connect_from_source(results);
          asio::async_connect(self->socket_, results,
                              [self](const error_code& ec2, const tcp::endpoint&) {
                                if (self->state_ != State::kConnecting) return;
                                if (ec2) return self->failed(ec2);
                                self->connected();
                              });
        });
  }

  // From the node's own address (TcpTransportOptions::source_host): the first resolved address
  // of the same family.
  void connect_from_source(const tcp::resolver::results_type& results) {
    error_code ec;
    const asio::ip::address source = asio::ip::make_address(t_->opts.source_host, ec);
    if (ec) return failed(ec);
    std::optional<tcp::endpoint> target;
    for (const auto& r : results) {
      if (r.endpoint().address().is_v4() == source.is_v4()) {
        target = r.endpoint();
        break;
      }
    }
    if (!target) return failed(asio::error::address_family_not_supported);
    if (socket_.is_open()) socket_.close(ec);
    socket_.open(target->protocol(), ec);
    if (!ec) socket_.bind(tcp::endpoint(source, 0), ec);
    if (ec) return failed(ec);
    socket_.async_connect(*target, [self = shared_from_this()](const error_code& ec2) {
      if (self->state_ != State::kConnecting) return;
      if (ec2) return self->failed(ec2);
      self->connected();
    });
  }

  void connected() {
    timer_.cancel();
    state_ = State::kConnected;
    ++t_->stats.connects;
    backoff_ = t_->opts.backoff_min;
    error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    if (t_->opts.user_timeout > Duration{0}) {
      // Data unacknowledged this long (the peer vanished, or packets to it are dropped) fails
      // the connection, and the next one is tried with backoff, instead of waiting out TCP's
      // retransmission backoff, which after a long partition can outlast it by minutes.
      const auto ms = static_cast<unsigned>(std::chrono::duration_cast<std::chrono::milliseconds>(t_->opts.user_timeout).count());
      ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
    }
    // Peers never write on this connection: a completed read means it closed, and bytes mean
    // something other than a sqlraft node listens there (an HTTP server answers what we sent
    // with an error page).
    socket_.async_read_some(asio::buffer(sink_),
                            [self = shared_from_this()](const error_code&, size_t n) {
                              if (self->state_ != State::kConnected) return;
                              if (n > 0) self->answered(n);
                              self->failed();
                            });
    if (!queue_.empty()) write();
  }

  void answered(size_t n) {
    ++failures_;
    foreign_ = true;
    const std::string_view got(sink_, n);
    last_error_ = got.starts_with("HTTP/") ? "appears to be serving HTTP"
                                           : "answered with data: not a sqlraft Raft port";
    if (t_->opts.peer_failed) t_->opts.peer_failed(id_, last_error_);
  }

  void failed(const error_code& why = {}) {
    if (state_ == State::kClosed || t_->stopped) return;
    if (state_ == State::kConnecting) {
      ++t_->stats.connect_failures;
      ++failures_;
      std::string m = why == asio::error::operation_aborted ? std::string("i/o timeout")
                      : why                                 ? why.message()
                                                            : std::string("connection failed");
      for (auto& ch : m) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      last_error_ = "dial tcp " + addr_ + ": connect: " + m;
      if (t_->opts.peer_failed) t_->opts.peer_failed(id_, last_error_);
    }
    error_code ec;
    socket_.close(ec);
    writing_ = false;
    state_ = State::kWaiting;
    timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, t_->opts.backoff_max);
    timer_.async_wait([self = shared_from_this()](const error_code& e) {
      if (e || self->state_ != State::kWaiting) return;
      self->socket_ = tcp::socket(self->t_->io);
      self->state_ = State::kIdle;
      if (!self->queue_.empty()) self->connect();
    });
  }

  void write() {
    writing_ = true;
    out_.clear();
    size_t frames = 0;
    // Frames that waited too long (the peer was down, or is a new process by now) are stale:
    // Raft resends what still matters, and a request forwarded that long ago has been given up.
    const auto oldest = std::chrono::steady_clock::now() - t_->opts.max_queue_age;
    while (!queue_.empty() && queued_at_.front() < oldest) {
      queued_bytes_ -= queue_.front().size();
      queue_.pop_front();
      queued_at_.pop_front();
      ++t_->stats.frames_dropped;
    }
    if (queue_.empty()) {
      writing_ = false;
      return;
    }
    while (!queue_.empty() && (out_.empty() || out_.size() + queue_.front().size() <=
                                                   t_->opts.max_write_batch_bytes)) {
      queued_bytes_ -= queue_.front().size();
      out_ += queue_.front();
      queue_.pop_front();
      queued_at_.pop_front();
      ++frames;
    }
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this(), frames](const error_code& ec, size_t) {
                        if (self->state_ != State::kConnected) return;
                        if (ec) return self->failed();  // what was in flight is lost; Raft resends
                        self->t_->stats.frames_sent += frames;
                        if (self->queue_.empty()) {
                          self->writing_ = false;
                        } else {
                          self->write();
                        }
                      });
  }

  void drop_queue() {
    t_->stats.frames_dropped += queue_.size();
    queue_.clear();
    queued_at_.clear();
    queued_bytes_ = 0;
  }

  std::shared_ptr<TcpTransport::Impl> t_;
  NodeId id_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  Duration backoff_;
  State state_ = State::kIdle;
  bool writing_ = false;
  uint64_t failures_ = 0;
  std::string last_error_;
  std::string addr_;  // where the newest attempt went
  std::deque<std::string> queue_;
  std::deque<std::chrono::steady_clock::time_point> queued_at_;  // when each frame was queued
  uint64_t queued_bytes_ = 0;
  std::string out_;
  char sink_[16];
  bool foreign_ = false;
};

// An incoming connection: frames in, nothing out.
class Inbound : public std::enable_shared_from_this<Inbound> {
 public:
  Inbound(std::shared_ptr<TcpTransport::Impl> t, tcp::socket s)
      : t_(std::move(t)), socket_(std::move(s)), timer_(t_->io) {}

  void start() { read_header(); }

  void close() {
    error_code ec;
    socket_.close(ec);
    timer_.cancel();
  }

 private:
  void arm_deadline() {
    timer_.expires_after(t_->opts.read_idle_timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->finish();  // silent for too long: a dead or stuck peer
    });
  }

  void read_header() {
    arm_deadline();
    asio::async_read(socket_, asio::buffer(header_),
                     [self = shared_from_this()](const error_code& ec, size_t) {
                       if (ec) return self->finish();
                       uint32_t n = 0;
                       for (int i = 3; i >= 0; --i)
                         n = (n << 8) | static_cast<uint8_t>(self->header_[i]);
                       if (n > self->t_->opts.max_frame_bytes) {
                         ++self->t_->stats.oversized_frames;
                         if (self->t_->opts.warn) {
                           error_code ignored;
                           const auto peer = self->socket_.remote_endpoint(ignored);
                           self->t_->opts.warn(
                               "closing a connection from " + peer.address().to_string() + ":" +
                               std::to_string(peer.port()) + ": frame of " + std::to_string(n) +
                               " bytes (limit " + std::to_string(self->t_->opts.max_frame_bytes) +
                               ")");
                         }
                         return self->finish();
                       }
                       self->payload_.resize(n);
                       self->read_payload();
                     });
  }

  void read_payload() {
    asio::async_read(socket_, asio::buffer(payload_),
                     [self = shared_from_this()](const error_code& ec, size_t) {
                       if (ec) return self->finish();
                       ++self->t_->stats.frames_received;
                       if (!self->t_->stopped) self->t_->deliver(self->payload_);
                       self->read_header();
                     });
  }

  void finish() {
    close();
    t_->inbound.erase(shared_from_this());
  }

  std::shared_ptr<TcpTransport::Impl> t_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  char header_[4];
  std::string payload_;
};

void TcpTransport::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](const error_code& ec, tcp::socket s) {
    if (self->stopped) return;
    if (!ec) {
      ++self->stats.accepted;
      error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      auto in = std::make_shared<Inbound>(self, std::move(s));
      self->inbound.insert(in);
      in->start();
    }
    self->accept();
  });
}

TcpTransport::TcpTransport(asio::io_context& io, TcpTransportOptions opts, Deliver deliver,
                           Resolve resolve)
    : impl_(std::make_shared<Impl>(io, std::move(opts), std::move(deliver), std::move(resolve))) {}

TcpTransport::~TcpTransport() {
  stop();
}

Status TcpTransport::start() {
  error_code ec;
  tcp::endpoint ep;
  const auto addr = asio::ip::make_address(impl_->opts.listen_host, ec);
  if (ec) {
    tcp::resolver resolver(impl_->io);
    auto results =
        resolver.resolve(impl_->opts.listen_host, std::to_string(impl_->opts.listen_port), ec);
    if (ec || results.empty())
      return make_error(ErrorCode::kInvalid, "cannot resolve " + impl_->opts.listen_host);
    ep = results.begin()->endpoint();
  } else {
    ep = tcp::endpoint(addr, impl_->opts.listen_port);
  }
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot listen on " + impl_->opts.listen_host + ":" +
                                          std::to_string(impl_->opts.listen_port) + ": " +
                                          ec.message());
  }
  impl_->accept();
  return ok_status();
}

void TcpTransport::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  error_code ec;
  impl_->acceptor.close(ec);
  for (auto& [id, p] : impl_->peers) p->close();
  impl_->peers.clear();
  auto inbound = impl_->inbound;
  for (const auto& in : inbound) in->close();
  impl_->inbound.clear();
}

void TcpTransport::send(NodeId to, std::string bytes) {
  if (impl_->stopped) return;
  auto& p = impl_->peers[to];
  if (!p) p = std::make_shared<Peer>(impl_, to);
  p->send(std::move(bytes));
}

void TcpTransport::reset_peer(NodeId id) {
  auto it = impl_->peers.find(id);
  if (it == impl_->peers.end()) return;
  it->second->close();
  impl_->peers.erase(it);
}

void TcpTransport::learn(NodeId id, const std::string& address) {
  auto it = impl_->learned.find(id);
  if (it != impl_->learned.end() && it->second == address) return;
  // Joiners come and go: keep the book bounded (the membership is the lasting source).
  if (impl_->learned.size() >= 1024 && it == impl_->learned.end())
    impl_->learned.erase(impl_->learned.begin());
  impl_->learned[id] = address;
  reset_peer(id);  // a connection to an old address must not be reused
}

uint16_t TcpTransport::port() const {
  error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

const TcpTransportStats& TcpTransport::stats() const {
  return impl_->stats;
}

PeerState TcpTransport::peer_state(NodeId id) const {
  auto it = impl_->peers.find(id);
  return it == impl_->peers.end() ? PeerState{} : it->second->state();
}

}  // namespace rq::net
